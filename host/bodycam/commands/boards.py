"""bodycam boards: the supported board profiles."""
from bodycam.boards import DEFAULT_BOARD, board_ids, load_board

NAME = "boards"
HELP = "list the supported board profiles"


def add_arguments(p):
    p.add_argument("board", nargs="?", help="show one profile in full")


def run(args):
    if args.board:
        import json
        b = load_board(args.board)
        b.pop("flash_offset_int", None)
        print(json.dumps(b, indent=2))
        return 0
    for bid in board_ids():
        b = load_board(bid)
        st = b["storage"]["kind"]
        print("%-22s %-32s %-8s PSRAM %d MiB, clips on %s, button GPIO%d%s" % (
            bid, b["name"], b["chip"], b["psram_bytes"] >> 20, "SD card" if st == "sd" else "flash",
            b["button"]["pin"], "  (default)" if bid == DEFAULT_BOARD else ""))
    return 0
