"""Warp-stall samples per source line from an Nsight Compute source export, costliest first.

  ncu -i REPORT.ncu-rep --page source --csv --print-source cuda,sass > source.csv
  python3 bench/ncu_lines.py source.csv [top]

Inlined frames (a barrier inside cooperative_groups, a lambda inside scan_algo.h) each get the
samples of the instructions they cover, so a line and the lines it was inlined into both appear.
"""
import csv
import sys


def main(path, top):
    header, file_name, lines = None, "", []
    for row in csv.reader(open(path)):
        if not row:
            continue
        if row[0] == "File Path":
            file_name = row[1].split("/")[-1]
        elif row[0] == "Line No":
            header = {name: i for i, name in enumerate(row)}
        elif header and row[0] and row[0] != "Function Name" and row[4].isdigit():
            num = lambda key: int(row[header[key]]) if row[header[key]].isdigit() else 0
            lines.append((int(row[4]), f"{file_name}:{row[0]}", num("stall_barrier"), num("stall_long_sb"),
                          num("stall_wait"), num("stall_selected"), row[1].strip()[:80]))
    total = sum(line[0] for line in lines)
    print(f"{'samples':>9} {'share':>6} {'barrier':>8} {'long_sb':>8} {'wait':>7} {'issued':>7}  line")
    for samples, where, bar, lsb, wait, sel, text in sorted(lines, reverse=True)[:top]:
        print(f"{samples:9d} {100 * samples / total:5.1f}% {bar:8d} {lsb:8d} {wait:7d} {sel:7d}  {where}  {text}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 40)
