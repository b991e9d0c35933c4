"""Map files for pathfinding: the MovingAI `.map` format and a plain ASCII format with a provenance header.

Plain ASCII format (`.txt`): optional header lines starting with `;` (`; key: value`), then one line per grid
row, `.` for a free cell and `#` for an obstacle, all rows the same length. Generated files carry
`; generator: <name and parameters>` and `; seed: <int>` so that `python -m envs.pathfinding.generate` can make
them again.

MovingAI format (`.map`, https://movingai.com/benchmarks/formats.html): `type octile`, `height H`, `width W`,
`map`, then H rows of W characters; `.`, `G` and `S` are passable, `@`, `O`, `T` and `W` are not. The format has
no room for comments, so provenance of a generated MovingAI file lives in a sidecar `<file>.meta` holding the
same `; key: value` lines as the ASCII header.

A malformed file raises `MapFormatError` naming the file, the line and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from envs.pathfinding.planning import component_labels

ASCII_FREE, ASCII_OBSTACLE = ".", "#"
MOVINGAI_PASSABLE = frozenset(".GS")
MOVINGAI_BLOCKED = frozenset("@OTW")
MAPS_ROOT = Path(__file__).resolve().parent.parent / "maps" / "pathfinding"  # envs/maps -> ../maps


class MapFormatError(ValueError):
    """A map file that cannot be read: names the file, the 1-based line and the reason."""

    def __init__(self, path: str | Path, line: int | None, reason: str) -> None:
        self.path, self.line, self.reason = str(path), line, reason
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")


@dataclass
class GridMap:
    """An obstacle grid (`True` = obstacle, indexed `[row, column]`) and where it came from."""

    obstacles: np.ndarray
    name: str = ""
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.obstacles.shape)

    def to_ascii(self) -> str:
        header = "".join(f"; {k}: {v}\n" for k, v in self.meta.items())
        rows = ("".join(ASCII_OBSTACLE if o else ASCII_FREE for o in row) for row in self.obstacles)
        return header + "\n".join(rows) + "\n"

    def to_movingai(self) -> str:
        h, w = self.shape
        rows = ("".join("@" if o else "." for o in row) for row in self.obstacles)
        return f"type octile\nheight {h}\nwidth {w}\nmap\n" + "\n".join(rows) + "\n"


def read_map(path: str | Path) -> GridMap:
    """Read a `.map` (MovingAI) or any other file as plain ASCII, check it, and return the grid."""
    path = Path(path)
    if not path.is_file():
        raise MapFormatError(path, None, "no such file")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise MapFormatError(
            path, None, f"not a text map file (byte {err.start} is not UTF-8); expected a .map or .txt grid"
        ) from None
    grid = parse_movingai(text, path) if path.suffix == ".map" else parse_ascii(text, path)
    check_solvable(grid, path)
    return grid


def parse_ascii(text: str, source: str | Path = "<string>") -> GridMap:
    meta: dict[str, str] = {}
    rows: list[list[bool]] = []
    ended_at = None  # line of the first blank line after the grid; only blank lines may follow it
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if line.startswith(";"):
            if rows:
                raise MapFormatError(source, number, "header line ';' after the grid started")
            key, value = _header_entry(line, source, number)
            meta[key] = value
        elif not line:
            ended_at = ended_at or (number if rows else None)
        elif ended_at is not None:
            raise MapFormatError(source, ended_at, "blank line inside the grid")
        else:
            bad = next((c for c in line if c not in (ASCII_FREE, ASCII_OBSTACLE)), None)
            if bad is not None:
                raise MapFormatError(
                    source,
                    number,
                    f"unexpected character {bad!r} at column {line.index(bad) + 1}; expected "
                    f"'{ASCII_FREE}' (free) or '{ASCII_OBSTACLE}' (obstacle)",
                )
            if rows and len(line) != len(rows[0]):
                raise MapFormatError(
                    source, number, f"row has {len(line)} cells, the first row has {len(rows[0])}"
                )
            rows.append([c == ASCII_OBSTACLE for c in line])
    if not rows:
        raise MapFormatError(source, None, "no grid rows")
    return GridMap(np.array(rows, dtype=bool), name=Path(str(source)).stem, meta=meta)


def parse_header(text: str, source: str | Path = "<string>") -> dict[str, str]:
    """The `; key: value` lines of a `.meta` sidecar."""
    meta = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.strip():
            key, value = _header_entry(raw.strip(), source, number)
            meta[key] = value
    return meta


def _header_entry(line: str, source: str | Path, number: int) -> tuple[str, str]:
    key, sep, value = line[1:].partition(":")
    if not line.startswith(";") or not sep or not key.strip():
        raise MapFormatError(source, number, f"header line must read '; key: value', got {line!r}")
    return key.strip(), value.strip()


def parse_movingai(text: str, source: str | Path = "<string>") -> GridMap:
    lines = text.splitlines()
    header: dict[str, str] = {}
    number = 0
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if line == "map":
            break
        key, _, value = line.partition(" ")
        if key not in ("type", "height", "width"):
            raise MapFormatError(
                source, number, f"expected a header line 'type', 'height', 'width' or 'map', got {line!r}"
            )
        header[key] = value.strip()
    else:
        raise MapFormatError(source, len(lines) or None, "missing the 'map' line that ends the header")
    dims = {}
    for key in ("height", "width"):
        if key not in header:
            raise MapFormatError(source, number, f"header has no '{key}' line")
        try:
            dims[key] = int(header[key])
        except ValueError:
            raise MapFormatError(source, None, f"{key} must be an integer, got {header[key]!r}") from None
        if dims[key] < 1:
            raise MapFormatError(source, None, f"{key} must be positive, got {dims[key]}")
    body = lines[number:]
    while body and not body[-1].strip():
        body.pop()
    if len(body) != dims["height"]:
        raise MapFormatError(
            source, number + len(body), f"header says height {dims['height']}, found {len(body)} rows"
        )
    rows = []
    for offset, raw in enumerate(body, start=number + 1):
        line = raw.rstrip("\r\n")
        if len(line) != dims["width"]:
            raise MapFormatError(
                source, offset, f"header says width {dims['width']}, row has {len(line)} cells"
            )
        bad = next((c for c in line if c not in MOVINGAI_PASSABLE | MOVINGAI_BLOCKED), None)
        if bad is not None:
            raise MapFormatError(
                source,
                offset,
                f"unexpected character {bad!r} at column {line.index(bad) + 1}; expected one of "
                f"{''.join(sorted(MOVINGAI_PASSABLE | MOVINGAI_BLOCKED))}",
            )
        rows.append([c in MOVINGAI_BLOCKED for c in line])
    meta = {}
    sidecar = Path(str(source) + ".meta")
    if sidecar.is_file():
        meta = parse_header(sidecar.read_text(), sidecar)
    return GridMap(np.array(rows, dtype=bool), name=Path(str(source)).stem, meta=meta)


def check_solvable(grid: GridMap, source: str | Path = "<string>") -> None:
    """A map is usable when some connected free region holds at least a start and a different goal."""
    free = torch.from_numpy(~grid.obstacles)[None]
    labels = component_labels(free)[0].flatten()
    labels = labels[labels >= 0]
    largest = int(torch.bincount(labels).max()) if labels.numel() else 0
    if largest < 2:
        raise MapFormatError(
            source, None, "unsolvable: no connected free region has two cells for a start and a goal"
        )


def write_map(grid: GridMap, path: str | Path) -> None:
    """Write `.map` files in MovingAI format (provenance in a `.meta` sidecar), others as plain ASCII."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".map":
        path.write_text(grid.to_movingai())
        if grid.meta:
            Path(str(path) + ".meta").write_text("".join(f"; {k}: {v}\n" for k, v in grid.meta.items()))
    else:
        path.write_text(grid.to_ascii())


def resolve_map_files(spec: str) -> list[Path]:
    """Map files named by `spec`: a file, a folder, or a glob, absolute or relative to maps/pathfinding/; or
    several of these separated by commas (their union, each file once)."""
    if "," in spec:
        parts = [part.strip() for part in spec.split(",")]
        if not all(parts):
            raise ValueError(f"map set {spec!r} has an empty part between its commas")
        return sorted({file for part in parts for file in resolve_map_files(part)})
    candidates = [Path(spec), MAPS_ROOT / spec]
    for base in candidates:
        if base.is_file():
            return [base]
        if base.is_dir():
            files = sorted(p for p in base.rglob("*") if p.is_file() and p.suffix in (".map", ".txt"))
            if files:
                return files
    pattern = Path(spec)
    matches = (
        Path(pattern.anchor).glob(str(pattern.relative_to(pattern.anchor)))
        if pattern.is_absolute()
        else MAPS_ROOT.glob(spec)
    )
    files = sorted(p for p in matches if p.is_file() and p.suffix in (".map", ".txt"))
    if not files:
        known = sorted(p.name for p in MAPS_ROOT.iterdir() if p.is_dir()) if MAPS_ROOT.is_dir() else []
        raise FileNotFoundError(
            f"no map files (.map or .txt) match {spec!r} as a file, folder or glob, absolute or under "
            f"{MAPS_ROOT}; map sets there: {known}"
        )
    return files
