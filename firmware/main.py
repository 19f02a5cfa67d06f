# Boot: startup.py does it all, and never dies on a failing part (it says
# what failed and what to do, and keeps the serial dock up). Only if
# startup itself cannot be loaded does the board stop here, at the REPL,
# where `bodycam deploy` can mend it. (Only main.py is run at boot, never
# main.mpy: micropython #18642. Keep this file small.)
try:
    import startup
except Exception as e:
    print('BODYCAM-BOOT {"problems": [{"part": "firmware", "error": "%s"}]}' % repr(e).replace('"', "'"))
    print("BODYCAM-PROBLEM firmware: the boot code does not load (%r): deploy again (bodycam deploy)" % e)
else:
    startup.start()
