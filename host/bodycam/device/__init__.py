"""Getting bodycam onto a board and talking to it: firmware images
(fwimage, appimage), writing them with esptool (flashing), the board's
files and REPL through mpremote (repl), deploying the firmware
(deploying), finding the serial port (portfind), and the host's own
MicroPython tools (upy: mpy-cross and the unix port)."""
