"""Walk one application's accessibility tree over AT-SPI and print it as JSON.

Runs under the system python3 (Debian's python3-pyatspi), not the venv:
    /usr/bin/python3 tests/ui_atspi_walk.py APP_NAME TIMEOUT_S
Prints {"found": bool, "nodes": [{"role", "name", "description", "focusable", "showing", "path",
"text"}]}; "text" is the node's Text interface content, or null when it has none.
"""

import json
import sys
import time

import pyatspi


def find_app(name, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        desktop = pyatspi.Registry.getDesktop(0)
        for index in range(desktop.childCount):
            app = desktop.getChildAtIndex(index)
            if app is not None and app.name == name:
                return app
        time.sleep(0.5)
    return None


def _text(node):
    """What a screen reader reads as the node's text (None: no Text interface)."""
    try:
        text = node.queryText()
    except NotImplementedError:
        return None
    return text.getText(0, text.characterCount)


def walk(node, path, out, depth=0):
    if node is None or depth > 40:
        return
    try:
        states = node.getState()
        role = node.getRoleName()
        entry = {
            "role": role,
            "name": node.name or "",
            "description": node.description or "",
            "focusable": states.contains(pyatspi.STATE_FOCUSABLE),
            "showing": states.contains(pyatspi.STATE_SHOWING),
            "path": path + "/" + role,
            "text": _text(node),
        }
    except Exception as exc:  # noqa: BLE001 - a dead object in the tree is reported, not fatal
        out.append({"role": "error", "name": str(exc), "description": "", "focusable": False,
                    "showing": False, "path": path})
        return
    out.append(entry)
    for index in range(node.childCount):
        walk(node.getChildAtIndex(index), entry["path"], out, depth + 1)


def main():
    name, timeout = sys.argv[1], float(sys.argv[2])
    app = find_app(name, timeout)
    nodes = []
    if app is not None:
        walk(app, "", nodes)
    print(json.dumps({"found": app is not None, "nodes": nodes}))


if __name__ == "__main__":
    main()
