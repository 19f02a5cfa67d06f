"""firmware/standby.py: the dock-only loop a board falls back to when the
capture loop cannot run. On its way to the REPL (a deliberate Ctrl-C) it
closes its services as App.run does, so a dock that stepped up to UART1's
ring gives the REPL's TX pin back to UART0 (docs/esp32-port.md row 2c):
otherwise the REPL would answer nobody until a hard reset."""


def test_a_deliberate_interrupt_closes_the_services_so_the_repl_gets_its_uart_back(run_mpy):
    out = run_mpy("""
import json
import standby

class Hal:
    t = 0
    camera = None
    def ticks_ms(self):
        return self.t
    def sleep_ms(self, ms):
        self.t += ms
    def led(self, name, on):
        pass

log = []
class Dock:  # as dock.Dock: poll, idle, close; a deliberate Ctrl-C sets app.interrupt
    def __init__(self, app):
        self.app = app
        self.polls = 0
    def poll(self, now):
        self.polls += 1
        log.append("poll")
        if self.polls == 3:
            self.app.interrupt = True
    def idle(self, due):
        log.append("idle")
    def close(self):
        log.append("close")

s = standby.Standby(Hal(), {"id": "ai-thinker-esp32-cam"}, {})
s.services.append(Dock(s))
class Plain:  # a service without close() is left alone
    def poll(self, now):
        pass
s.services.append(Plain())
try:
    s.run()
    ended = "returned"
except KeyboardInterrupt:
    ended = "KeyboardInterrupt"
print(json.dumps([ended, log]))
""")
    ended, log = out
    assert ended == "KeyboardInterrupt"
    assert log.count("poll") == 3 and log[-1] == "close" and log.count("close") == 1
