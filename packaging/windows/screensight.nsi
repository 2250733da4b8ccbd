; ScreenSight installer for Windows (NSIS 3). Per-user install: no administrator rights needed.
; Build (after PyInstaller made build\pyinstaller\dist\screensight):
;   makensis -DVERSION=0.1.0 -DPAYLOAD=%CD%\build\pyinstaller\dist\screensight packaging\windows\screensight.nsi
; makensis changes into this folder: give PAYLOAD, OUTFILE and ICON as absolute paths.
; Optional: -DOUTFILE=path\to\setup.exe  -DICON=path\to\icon.ico
; The payload is the PyInstaller onedir folder: ScreenSight.exe (the app, no console),
; screensight-cli.exe (the same program with a console: --self-test and commands), _internal\.
; Settings and models live in %LOCALAPPDATA%\ScreenSight (not in the program folder), so
; upgrades keep them; the uninstaller offers to delete the downloaded models.

Unicode true
ManifestDPIAware true
SetCompressor /SOLID lzma

!include "MUI2.nsh"
!include "LogicLib.nsh"
!include "FileFunc.nsh"
!include "x64.nsh"

!ifndef VERSION
  !define VERSION "0.0.0"
!endif
!ifndef PAYLOAD
  !error "Pass -DPAYLOAD=<the PyInstaller onedir folder, e.g. build\pyinstaller\dist\screensight>"
!endif
!ifndef ICON
  !define ICON "../icons/screensight.ico"  ; makensis runs in this folder
!endif
!ifndef OUTFILE
  !define OUTFILE "ScreenSight-${VERSION}-windows-x64-setup.exe"
!endif

!define APPNAME "ScreenSight"
!define PUBLISHER "ScreenSight project"
!define GUI_EXE "ScreenSight.exe"
!define CLI_EXE "screensight-cli.exe"
!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\${APPNAME}"
!define RUN_KEY "Software\Microsoft\Windows\CurrentVersion\Run"
; platformdirs: user_config_dir and user_data_dir are %LOCALAPPDATA%\ScreenSight,
; user_cache_dir is %LOCALAPPDATA%\ScreenSight\Cache; models are in Cache\models.
!define USER_DIR "$LOCALAPPDATA\${APPNAME}"
!define MODELS_DIR "$LOCALAPPDATA\${APPNAME}\Cache\models"
; An offline model pack: a folder with this name next to the installer (see offline-models.md).
!define PACK_DIR "$EXEDIR\ScreenSight-models"

Name "${APPNAME}"
OutFile "${OUTFILE}"
InstallDir "$LOCALAPPDATA\Programs\${APPNAME}"
InstallDirRegKey HKCU "Software\${APPNAME}" "InstallDir"
RequestExecutionLevel user
BrandingText "${APPNAME} ${VERSION}"

VIProductVersion "${VERSION}.0"
VIAddVersionKey "ProductName" "${APPNAME}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileDescription" "${APPNAME} installer"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "LegalCopyright" "Apache-2.0"

!define MUI_ICON "${ICON}"
!define MUI_UNICON "${ICON}"
!define MUI_ABORTWARNING
!define MUI_COMPONENTSPAGE_SMALLDESC
!define MUI_FINISHPAGE_RUN "$INSTDIR\${GUI_EXE}"
!define MUI_FINISHPAGE_RUN_TEXT "Start ScreenSight now (it will offer to download a model)"

!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_COMPONENTS
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

Section "ScreenSight (required)" SecApp
  SectionIn RO
  ; An upgrade replaces the program files only; settings and models are elsewhere.
  RMDir /r "$INSTDIR\_internal"
  SetOutPath "$INSTDIR"
  File "${PAYLOAD}/${GUI_EXE}"
  File "${PAYLOAD}/${CLI_EXE}"
  File /r "${PAYLOAD}/_internal"
  File "/oname=screensight.ico" "${ICON}"
  WriteUninstaller "$INSTDIR\Uninstall.exe"

  WriteRegStr HKCU "Software\${APPNAME}" "InstallDir" "$INSTDIR"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayName" "${APPNAME}"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINST_KEY}" "Publisher" "${PUBLISHER}"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayIcon" "$INSTDIR\screensight.ico"
  WriteRegStr HKCU "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINST_KEY}" "UninstallString" '"$INSTDIR\Uninstall.exe"'
  WriteRegStr HKCU "${UNINST_KEY}" "QuietUninstallString" '"$INSTDIR\Uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINST_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINST_KEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  WriteRegDWORD HKCU "${UNINST_KEY}" "EstimatedSize" "$0"
SectionEnd

Section "Start menu entries" SecStartMenu
  CreateDirectory "$SMPROGRAMS\${APPNAME}"
  CreateShortcut "$SMPROGRAMS\${APPNAME}\${APPNAME}.lnk" "$INSTDIR\${GUI_EXE}" "" \
    "$INSTDIR\screensight.ico" 0 SW_SHOWNORMAL "" "Describe the screen aloud"
  ; The self-test prints its report in a console window that stays open.
  CreateShortcut "$SMPROGRAMS\${APPNAME}\${APPNAME} self-test.lnk" "$SYSDIR\cmd.exe" \
    '/k ""$INSTDIR\${CLI_EXE}" --self-test"' "$INSTDIR\screensight.ico" 0 SW_SHOWNORMAL "" \
    "Check sound, screen capture, hotkeys and the model"
  CreateShortcut "$SMPROGRAMS\${APPNAME}\Uninstall ${APPNAME}.lnk" "$INSTDIR\Uninstall.exe"
SectionEnd

Section /o "Start ScreenSight when I sign in" SecAutostart
  ; The same value the app's "Start with Windows" setting writes, so the two agree.
  WriteRegStr HKCU "${RUN_KEY}" "${APPNAME}" '"$INSTDIR\${GUI_EXE}"'
SectionEnd

Section /o "Offline model pack (ScreenSight-models folder next to this installer)" SecModels
  ${If} ${FileExists} "${PACK_DIR}\*.*"
    DetailPrint "Copying the offline model pack into ${MODELS_DIR}"
    CreateDirectory "${MODELS_DIR}"
    CopyFiles "${PACK_DIR}\*.*" "${MODELS_DIR}"
  ${Else}
    DetailPrint "No ScreenSight-models folder next to the installer; no models copied."
  ${EndIf}
SectionEnd

!insertmacro MUI_FUNCTION_DESCRIPTION_BEGIN
  !insertmacro MUI_DESCRIPTION_TEXT ${SecApp} "The ScreenSight program. Models are not included: \
    the first start offers to download one, or use an offline model pack."
  !insertmacro MUI_DESCRIPTION_TEXT ${SecStartMenu} "ScreenSight, its self-test and the uninstaller \
    in the Start menu."
  !insertmacro MUI_DESCRIPTION_TEXT ${SecAutostart} "Start ScreenSight in the background when you \
    sign in to Windows, so the hotkeys always work. You can change this later in the settings."
  !insertmacro MUI_DESCRIPTION_TEXT ${SecModels} "Copy the models from a ScreenSight-models folder \
    next to this installer, for computers without internet access."
!insertmacro MUI_FUNCTION_DESCRIPTION_END

Function .onInit
  ${IfNot} ${RunningX64}
    MessageBox MB_OK|MB_ICONSTOP "ScreenSight needs 64-bit Windows 10 or later." /SD IDOK
    Abort
  ${EndIf}
  ; The model pack option is offered (and chosen) only when a pack is next to the installer.
  ${If} ${FileExists} "${PACK_DIR}\*.*"
    SectionSetFlags ${SecModels} ${SF_SELECTED}
  ${Else}
    SectionSetFlags ${SecModels} ${SF_RO}
  ${EndIf}
FunctionEnd

Section "Uninstall"
  Delete "$INSTDIR\${GUI_EXE}"
  Delete "$INSTDIR\${CLI_EXE}"
  Delete "$INSTDIR\screensight.ico"
  RMDir /r "$INSTDIR\_internal"
  Delete "$INSTDIR\Uninstall.exe"
  RMDir "$INSTDIR"
  RMDir /r "$SMPROGRAMS\${APPNAME}"
  DeleteRegValue HKCU "${RUN_KEY}" "${APPNAME}"
  DeleteRegKey HKCU "${UNINST_KEY}"
  DeleteRegKey HKCU "Software\${APPNAME}"
  ${If} ${FileExists} "${MODELS_DIR}\*.*"
    MessageBox MB_YESNO|MB_ICONQUESTION "Also delete the downloaded models in ${MODELS_DIR}? \
      They can take several gigabytes. Choose No to keep them for a later installation." \
      /SD IDNO IDNO keep_models
    RMDir /r "${MODELS_DIR}"
    keep_models:
  ${EndIf}
  DetailPrint "Your settings stay in ${USER_DIR}; delete that folder to remove them too."
SectionEnd
