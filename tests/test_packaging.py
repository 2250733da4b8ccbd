"""The light packaging check (seconds): spec, bundle lists, .deb layout, desktop files, NSIS, CI.

The full check (PyInstaller build, dpkg install, installed self-test) is packaging/check.sh.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import plistlib
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
APP_ID = "org.screensight.ScreenSight"
SHELL_SCRIPTS = sorted(PACKAGING.rglob("*.sh"))


def load_layout() -> ModuleType:
    """packaging/bundle_layout.py by path (packaging/ is not a package on purpose)."""
    spec = importlib.util.spec_from_file_location("bundle_layout", PACKAGING / "bundle_layout.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def layout() -> ModuleType:
    return load_layout()


def project_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        return tomllib.load(fh)["project"]["version"]


# ---------------------------------------------------------------------------- the spec


def test_spec_compiles_and_uses_only_names_the_layout_has(layout: ModuleType):
    source = (PACKAGING / "screensight.spec").read_text(encoding="utf-8")
    tree = ast.parse(source, "screensight.spec")
    compile(tree, "screensight.spec", "exec")
    used = {node.attr for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == "layout"}
    assert {"ENTRY_SCRIPT", "EXCLUDED_MODULES", "METADATA", "keep"} <= used
    missing = sorted(name for name in used if not hasattr(layout, name))
    assert missing == []
    assert "onefile" not in source.lower()  # onedir: COLLECT, and no a.binaries inside EXE
    assert "COLLECT(" in source and "exclude_binaries=True" in source
    assert layout.ENTRY_SCRIPT.is_file()


def test_hidden_imports_and_metadata_exist_here(layout: ModuleType):
    names = (list(layout.EXTRA_HIDDEN_IMPORTS) + list(layout.platform_hidden_imports(sys.platform))
             + list(layout.TRANSFORMERS_PACKAGES))
    unresolved = [name for name in names if importlib.util.find_spec(name) is None]
    assert unresolved == []
    for dist in layout.METADATA:
        assert importlib.metadata.distribution(dist).version
    modules = layout.app_modules()
    # Found on disk, including the ones for other platforms and the lazily imported ones.
    assert {"screensight.cli", "assistant.selftest", "assistant.windows.win32", "assistant.hotkeys",
            "models.vision"} <= set(modules)
    assert all(not m.endswith("__init__") for m in modules)


def test_platform_hidden_imports_name_each_platforms_backends(layout: ModuleType):
    assert "pynput.keyboard._xorg" in layout.platform_hidden_imports("linux")
    assert "pyttsx3.drivers.sapi5" in layout.platform_hidden_imports("win32")
    assert "pynput.keyboard._darwin" in layout.platform_hidden_imports("darwin")
    assert layout.platform_hidden_imports("sunos5") == ()


def test_bundle_filter_drops_test_programs_but_keeps_what_torch_needs(layout: ModuleType):
    assert not layout.keep("torch/test/Dict_test")
    assert not layout.keep("torch/lib/libtorchbind_test.so")
    assert not layout.keep("torch/include/ATen/ATen.h")
    assert not layout.keep("torch/bin/protoc")
    assert not layout.keep("torch\\bin\\test_api.exe")
    assert layout.keep("torch/bin/torch_shm_manager")
    assert layout.keep("torch/lib/libtorch_cpu.so")
    assert layout.keep("transformers/models/idefics3/modeling_idefics3.py")
    assert layout.is_runtime_module("transformers.models.moonshine.modeling_moonshine")
    assert not layout.is_runtime_module("transformers.models.moonshine.modular_moonshine")


def test_entry_script_runs_the_cli():
    proc = subprocess.run([sys.executable, str(PACKAGING / "entry.py"), "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "--self-test" in proc.stdout


# ---------------------------------------------------------------------------- macOS


def test_macos_bundle_settings(layout: ModuleType):
    info = layout.macos_info_plist()
    assert info["CFBundleIdentifier"] == APP_ID
    assert info["CFBundleShortVersionString"] == project_version()
    assert info["CFBundleExecutable"] == layout.EXE_NAME
    assert "microphone" in info["NSMicrophoneUsageDescription"].lower()
    assert (layout.ICONS / info["CFBundleIconFile"]).is_file()
    with (PACKAGING / "macos" / "entitlements.plist").open("rb") as fh:
        entitlements = plistlib.load(fh)
    assert entitlements["com.apple.security.device.audio-input"] is True


# ---------------------------------------------------------------------------- shell scripts


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_shell_script_syntax(script: Path):
    assert script.stat().st_mode & 0o111, f"{script} is not executable"
    subprocess.run(["bash", "-n", str(script)], check=True, timeout=30)
    if shutil.which("shellcheck"):
        proc = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stdout


# ---------------------------------------------------------------------------- Linux .deb


@pytest.fixture(scope="module")
def built_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """build-deb.sh run on a stand-in bundle (same layout as PyInstaller's onedir output)."""
    if not shutil.which("dpkg-deb"):
        pytest.skip("dpkg-deb is not installed (Debian package dpkg)")
    work = tmp_path_factory.mktemp("deb")
    bundle = work / "bundle" / "screensight"
    (bundle / "_internal").mkdir(parents=True)
    binary = bundle / "screensight"
    binary.write_text("#!/bin/sh\necho stand-in\n")
    binary.chmod(0o755)
    out = work / "out"
    subprocess.run([str(PACKAGING / "linux" / "build-deb.sh"), "--bundle", str(bundle), "--out",
                    str(out)], check=True, capture_output=True, text=True, timeout=120)
    debs = list(out.glob("*.deb"))
    assert len(debs) == 1
    return debs[0]


def deb_field(deb: Path, field: str) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), field], check=True, capture_output=True,
                          text=True).stdout.strip()


def test_deb_control_fields(built_deb: Path):
    assert built_deb.name == f"screensight_{project_version()}_{deb_field(built_deb, 'Architecture')}.deb"
    assert deb_field(built_deb, "Package") == "screensight"
    assert deb_field(built_deb, "Version") == project_version()
    depends = {d.strip() for d in deb_field(built_deb, "Depends").replace("|", ",").split(",")}
    assert {"espeak-ng", "libportaudio2", "libxcb-cursor0", "libxkbcommon-x11-0"} <= depends
    assert int(deb_field(built_deb, "Installed-Size")) > 0


def test_deb_contents(built_deb: Path, tmp_path: Path):
    listing = subprocess.run(["dpkg-deb", "--contents", str(built_deb)], check=True,
                             capture_output=True, text=True).stdout
    assert "./usr/bin/screensight -> /opt/screensight/screensight" in listing
    for path in (f"./usr/share/applications/{APP_ID}.desktop",
                 f"./usr/share/metainfo/{APP_ID}.metainfo.xml",
                 f"./usr/share/icons/hicolor/scalable/apps/{APP_ID}.svg",
                 f"./usr/share/icons/hicolor/256x256/apps/{APP_ID}.png",
                 "./opt/screensight/screensight", "./usr/share/doc/screensight/copyright"):
        assert path in listing
    assert "root/root" in listing and "-rwxr-xr-x root/root" in listing
    subprocess.run(["dpkg-deb", "-x", str(built_deb), str(tmp_path)], check=True)
    desktop = (tmp_path / f"usr/share/applications/{APP_ID}.desktop").read_text()
    assert "\nExec=screensight\n" in desktop and f"\nIcon={APP_ID}\n" in desktop


def test_desktop_entry_validates():
    validator = shutil.which("desktop-file-validate")
    if validator is None:
        pytest.skip("desktop-file-validate is not installed (Debian package desktop-file-utils)")
    proc = subprocess.run([validator, str(PACKAGING / "linux" / f"{APP_ID}.desktop")],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout


def test_metainfo_validates():
    tool = shutil.which("appstreamcli")
    if tool is None:
        pytest.skip("appstreamcli is not installed (Debian package appstream)")
    proc = subprocess.run([tool, "validate", "--no-net", "--no-color",
                           str(PACKAGING / "linux" / f"{APP_ID}.metainfo.xml")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ---------------------------------------------------------------------------- Windows


@pytest.fixture(scope="module")
def makensis() -> str:
    tool = shutil.which("makensis")
    if tool is None:
        pytest.skip("makensis is not installed (Debian package nsis)")
    return tool


def stand_in_payload(folder: Path) -> Path:
    """The PyInstaller onedir layout on Windows, with empty stand-in files."""
    (folder / "_internal").mkdir(parents=True)
    for name in ("ScreenSight.exe", "screensight-cli.exe", "_internal/python311.dll"):
        (folder / name).write_bytes(b"MZ stand-in")
    return folder


def test_nsis_installer_compiles(makensis: str, tmp_path: Path):
    payload = stand_in_payload(tmp_path / "payload")
    out = tmp_path / f"ScreenSight-{project_version()}-windows-x64-setup.exe"
    proc = subprocess.run([makensis, "-WX", "-V2", f"-DVERSION={project_version()}",
                           f"-DPAYLOAD={payload}", f"-DOUTFILE={out}",
                           str(PACKAGING / "windows" / "screensight.nsi")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out.read_bytes()[:2] == b"MZ"


def test_nsis_installer_refuses_a_missing_payload(makensis: str, tmp_path: Path):
    proc = subprocess.run([makensis, "-V2", f"-DPAYLOAD={tmp_path / 'nothing'}",
                           f"-DOUTFILE={tmp_path / 'setup.exe'}",
                           str(PACKAGING / "windows" / "screensight.nsi")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert not (tmp_path / "setup.exe").exists()


def test_nsis_script_keeps_user_data_and_offers_to_delete_models():
    script = (PACKAGING / "windows" / "screensight.nsi").read_text(encoding="utf-8")
    uninstall = script[script.index('Section "Uninstall"'):]
    assert "MB_YESNO" in uninstall and 'RMDir /r "${MODELS_DIR}"' in uninstall
    assert 'RMDir /r "${USER_DIR}"' not in script  # settings survive uninstall and upgrades
    assert "RequestExecutionLevel user" in script


# ---------------------------------------------------------------------------- CI workflow


def test_installers_workflow_builds_on_each_os():
    yaml = pytest.importorskip("yaml", reason="reading the workflow needs PyYAML (pip install pyyaml)")
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "installers.yml").read_text())
    jobs = workflow["jobs"]
    runners = " ".join(str(job["runs-on"]) for job in jobs.values())
    for os_name in ("ubuntu", "windows", "macos"):
        assert os_name in runners
    commands = "\n".join(step.get("run", "") for job in jobs.values() for step in job["steps"])
    for script in ("packaging/check.sh", "packaging/windows/screensight.nsi",
                   "packaging/macos/build-dmg.sh"):
        assert script in commands
        assert (ROOT / script).is_file()
