# Which HAL the firmware gets on MicroPython's unix port: the virtual
# board's when `bodycam sim` booted us (vboard.boot() ran), else the plain
# VirtualHal of the firmware tests. A module of its own so that neither HAL
# imports the other.


def board_hal():
    import vboard
    if vboard.attached():
        return vboard.BoardHal
    from hal_virtual import VirtualHal
    return VirtualHal
