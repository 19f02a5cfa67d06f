"""Board profiles on the host: list, load and check them with the firmware's
own validator."""
import os

from bodycam.resources import boards_dir, shared

DEFAULT_BOARD = "ai-thinker-esp32-cam"


def board_ids():
    return sorted(n[:-5] for n in os.listdir(boards_dir()) if n.endswith(".json"))


def load_board(board_id):
    """The validated profile; raises BoardError with the choices listed when
    the id is unknown."""
    bc = shared("boardcfg")
    ids = board_ids()
    if board_id not in ids:
        raise bc.BoardError("unknown board '%s'; known boards: %s" % (board_id, ", ".join(ids)))
    return bc.load(os.path.join(boards_dir(), board_id + ".json"))

