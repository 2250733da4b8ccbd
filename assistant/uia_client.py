"""Windows: one UI Automation client object per thread (COM objects belong to the thread that made
them), made on first use through comtypes. Shared by the password-field check and the facts source."""

from __future__ import annotations

import threading
from typing import Any


class UIAutomationClient:
    """`get()` returns this thread's IUIAutomation, creating it the first time."""

    def __init__(self) -> None:
        self._local = threading.local()

    def get(self) -> Any:
        uia = getattr(self._local, "uia", None)
        if uia is None:
            import comtypes
            import comtypes.client

            comtypes.CoInitializeEx(comtypes.COINIT_MULTITHREADED)
            comtypes.client.GetModule("UIAutomationCore.dll")
            from comtypes.gen.UIAutomationClient import CUIAutomation, IUIAutomation

            uia = comtypes.client.CreateObject(CUIAutomation, interface=IUIAutomation)
            self._local.uia = uia
        return uia
