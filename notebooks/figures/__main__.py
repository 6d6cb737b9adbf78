"""python -m notebooks.figures OUT_DIR -- write the four diagram PNGs."""
import argparse
import sys

from .diagrams import build


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m notebooks.figures",
        description="Draw the notebook's diagrams (rnn_cell.png, rnn_unrolled.png, "
                    "lstm_cell.png, backprop_through_time.png) into OUT_DIR.")
    parser.add_argument("out_dir", metavar="OUT_DIR", help="directory to write into "
                        "(created if missing)")
    args = parser.parse_args(argv)
    for path in build(args.out_dir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
