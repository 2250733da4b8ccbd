"""macOS: screen-recording permission, the frontmost window and the pointer (Quartz via ctypes).

Loads CoreGraphics and CoreFoundation on first use only, so the module imports (and its pure
helpers are tested) on any system. Coordinates are Quartz points with the origin at the top
left of the main display, the same space mss uses for its monitors.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Iterable, Mapping
from typing import Any

from assistant.windows.base import WindowInfo, WindowLocator
from base.errors import CaptureError

K_CG_WINDOW_LIST_ON_SCREEN_ONLY = 1
K_CG_WINDOW_LIST_EXCLUDE_DESKTOP = 16
K_CG_NULL_WINDOW_ID = 0
K_CF_NUMBER_DOUBLE = 13
K_CF_STRING_UTF8 = 0x08000100
# Owners of always-on-top system surfaces that are never "the window the user works in".
SYSTEM_OWNERS = frozenset({"Window Server", "Dock", "SystemUIServer", "Control Center",
                           "Notification Center"})

PERMISSION_MESSAGE = "macOS has not allowed ScreenSight to record the screen."
PERMISSION_HINT = (
    "Open System Settings > Privacy & Security > Screen & System Audio Recording, switch on "
    "ScreenSight (or the terminal you started it from), then quit and reopen ScreenSight."
)


class CGPoint(ctypes.Structure):
    _fields_ = [("x", ctypes.c_double), ("y", ctypes.c_double)]


class CGSize(ctypes.Structure):
    _fields_ = [("width", ctypes.c_double), ("height", ctypes.c_double)]


class CGRect(ctypes.Structure):
    _fields_ = [("origin", CGPoint), ("size", CGSize)]


class MacWindowLocator(WindowLocator):
    """Frontmost normal window and the pointer; refuses to capture without permission."""

    def __init__(self) -> None:
        self._quartz: _Quartz | None = None

    def check_access(self) -> None:
        quartz = self._lib()
        if quartz.screen_capture_allowed():
            return
        quartz.request_screen_capture()  # shows the system prompt the first time
        raise CaptureError(PERMISSION_MESSAGE, PERMISSION_HINT)

    def active_window(self) -> WindowInfo | None:
        return front_window(self._lib().window_list())

    def pointer_position(self) -> tuple[int, int] | None:
        return self._lib().pointer()

    def _lib(self) -> _Quartz:
        if self._quartz is None:
            self._quartz = _Quartz()
        return self._quartz


def front_window(windows: Iterable[Mapping[str, Any]]) -> WindowInfo | None:
    """The first normal (layer 0, visible, not a system surface) window of a front-to-back list.

    Each entry holds kCGWindowLayer, kCGWindowAlpha, kCGWindowOwnerName, kCGWindowName and
    kCGWindowBounds ({"X", "Y", "Width", "Height"}), as CGWindowListCopyWindowInfo gives them.
    """
    for entry in windows:
        if int(entry.get("kCGWindowLayer", 0)) != 0:
            continue
        if float(entry.get("kCGWindowAlpha", 1.0)) <= 0.0:
            continue
        owner = str(entry.get("kCGWindowOwnerName") or "")
        if owner in SYSTEM_OWNERS:
            continue
        bounds = entry.get("kCGWindowBounds") or {}
        x, y = round(float(bounds.get("X", 0))), round(float(bounds.get("Y", 0)))
        w, h = round(float(bounds.get("Width", 0))), round(float(bounds.get("Height", 0)))
        if w <= 1 or h <= 1:
            continue
        title = str(entry.get("kCGWindowName") or "")
        return WindowInfo(title=f"{owner}: {title}" if owner and title else title or owner,
                          rect=(x, y, w, h))
    return None


class _Quartz:
    """The few CoreGraphics/CoreFoundation calls we need."""

    _STRING_KEYS = ("kCGWindowName", "kCGWindowOwnerName")
    _NUMBER_KEYS = ("kCGWindowLayer", "kCGWindowAlpha")

    def __init__(self) -> None:
        cg_path = ctypes.util.find_library("CoreGraphics") or ctypes.util.find_library(
            "ApplicationServices")
        cf_path = ctypes.util.find_library("CoreFoundation")
        if not cg_path or not cf_path:
            raise CaptureError(
                "macOS screen functions (Quartz) are not available on this system.",
                "Use the capture backend for this operating system.",
            )
        self.cg = ctypes.cdll.LoadLibrary(cg_path)
        self.cf = ctypes.cdll.LoadLibrary(cf_path)
        void_p = ctypes.c_void_p
        self.cg.CGWindowListCopyWindowInfo.restype = void_p
        self.cg.CGWindowListCopyWindowInfo.argtypes = [ctypes.c_uint32, ctypes.c_uint32]
        self.cg.CGEventCreate.restype = void_p
        self.cg.CGEventCreate.argtypes = [void_p]
        self.cg.CGEventGetLocation.restype = CGPoint
        self.cg.CGEventGetLocation.argtypes = [void_p]
        self.cg.CGRectMakeWithDictionaryRepresentation.restype = ctypes.c_bool
        self.cg.CGRectMakeWithDictionaryRepresentation.argtypes = [void_p, ctypes.POINTER(CGRect)]
        self.cf.CFArrayGetCount.restype = ctypes.c_long
        self.cf.CFArrayGetCount.argtypes = [void_p]
        self.cf.CFArrayGetValueAtIndex.restype = void_p
        self.cf.CFArrayGetValueAtIndex.argtypes = [void_p, ctypes.c_long]
        self.cf.CFDictionaryGetValue.restype = void_p
        self.cf.CFDictionaryGetValue.argtypes = [void_p, void_p]
        self.cf.CFNumberGetValue.restype = ctypes.c_bool
        self.cf.CFNumberGetValue.argtypes = [void_p, ctypes.c_int, void_p]
        self.cf.CFStringGetCString.restype = ctypes.c_bool
        self.cf.CFStringGetCString.argtypes = [void_p, ctypes.c_char_p, ctypes.c_long,
                                               ctypes.c_uint32]
        self.cf.CFRelease.argtypes = [void_p]

    def screen_capture_allowed(self) -> bool:
        preflight = getattr(self.cg, "CGPreflightScreenCaptureAccess", None)
        if preflight is None:  # before macOS 10.15 no permission is needed
            return True
        preflight.restype = ctypes.c_bool
        return bool(preflight())

    def request_screen_capture(self) -> None:
        request = getattr(self.cg, "CGRequestScreenCaptureAccess", None)
        if request is not None:
            request.restype = ctypes.c_bool
            request()

    def pointer(self) -> tuple[int, int] | None:
        event = self.cg.CGEventCreate(None)
        if not event:
            return None
        try:
            point = self.cg.CGEventGetLocation(event)
        finally:
            self.cf.CFRelease(event)
        return (round(point.x), round(point.y))

    def window_list(self) -> list[dict[str, Any]]:
        options = K_CG_WINDOW_LIST_ON_SCREEN_ONLY | K_CG_WINDOW_LIST_EXCLUDE_DESKTOP
        array = self.cg.CGWindowListCopyWindowInfo(options, K_CG_NULL_WINDOW_ID)
        if not array:
            return []
        try:
            return [self._entry(self.cf.CFArrayGetValueAtIndex(array, index))
                    for index in range(self.cf.CFArrayGetCount(array))]
        finally:
            self.cf.CFRelease(array)

    def _key(self, name: str) -> ctypes.c_void_p:
        return ctypes.c_void_p.in_dll(self.cg, name)

    def _entry(self, info) -> dict[str, Any]:
        entry: dict[str, Any] = {}
        for name in self._STRING_KEYS:
            value = self.cf.CFDictionaryGetValue(info, self._key(name))
            if value:
                buffer = ctypes.create_string_buffer(1024)
                if self.cf.CFStringGetCString(value, buffer, len(buffer), K_CF_STRING_UTF8):
                    entry[name] = buffer.value.decode("utf-8", errors="replace")
        for name in self._NUMBER_KEYS:
            value = self.cf.CFDictionaryGetValue(info, self._key(name))
            number = ctypes.c_double()
            if value and self.cf.CFNumberGetValue(value, K_CF_NUMBER_DOUBLE,
                                                  ctypes.byref(number)):
                entry[name] = number.value
        bounds = self.cf.CFDictionaryGetValue(info, self._key("kCGWindowBounds"))
        rect = CGRect()
        if bounds and self.cg.CGRectMakeWithDictionaryRepresentation(bounds, ctypes.byref(rect)):
            entry["kCGWindowBounds"] = {"X": rect.origin.x, "Y": rect.origin.y,
                                        "Width": rect.size.width, "Height": rect.size.height}
        return entry
