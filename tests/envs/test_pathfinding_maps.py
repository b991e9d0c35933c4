"""Map readers (MovingAI and plain ASCII) on good and malformed files, generators, and the committed map set."""

import numpy as np
import pytest

from envs.pathfinding.generate import committed_set, main, maze_map, random_map, warehouse_map
from envs.pathfinding.maps import MAPS_ROOT, GridMap, MapFormatError, read_map, resolve_map_files, write_map

GOOD_ASCII = "; generator: hand\n; seed: 7\n..#\n#..\n...\n"
GOOD_MOVINGAI = "type octile\nheight 3\nwidth 4\nmap\n.@..\nT.G.\n..WS\n"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_plain_ascii_with_header(tmp_path):
    grid = read_map(write(tmp_path, "a.txt", GOOD_ASCII))
    np.testing.assert_array_equal(grid.obstacles, [[0, 0, 1], [1, 0, 0], [0, 0, 0]])
    assert grid.meta == {"generator": "hand", "seed": "7"}


def test_reads_movingai_with_sidecar(tmp_path):
    path = write(tmp_path, "m.map", GOOD_MOVINGAI)
    write(tmp_path, "m.map.meta", "; generator: hand\n; seed: 3\n")
    grid = read_map(path)
    np.testing.assert_array_equal(grid.obstacles, [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0]])
    assert grid.meta == {"generator": "hand", "seed": "3"}


@pytest.mark.parametrize("suffix", [".txt", ".map"])
def test_round_trip(tmp_path, suffix):
    original = GridMap(random_map(9, 13, 0.3, 4), meta={"generator": "random", "seed": "4"})
    write_map(original, tmp_path / f"r{suffix}")
    again = read_map(tmp_path / f"r{suffix}")
    np.testing.assert_array_equal(again.obstacles, original.obstacles)
    assert again.meta == original.meta


@pytest.mark.parametrize(
    "name, text, line, reason",
    [
        ("bad.txt", "...\n.x.\n...\n", 2, "unexpected character 'x' at column 2"),
        ("ragged.txt", "...\n..\n", 2, "row has 2 cells, the first row has 3"),
        ("gap.txt", "...\n\n...\n", 2, "blank line inside the grid"),
        ("late.txt", "...\n; seed: 1\n", 2, "header line ';' after the grid started"),
        ("header.txt", "; seed 1\n...\n", 1, "header line must read '; key: value'"),
        ("empty.txt", "; seed: 1\n", None, "no grid rows"),
        ("h.map", "type octile\nwidth 3\nmap\n...\n", 3, "header has no 'height' line"),
        ("w.map", "type octile\nheight 2\nwidth 3\nmap\n...\n....\n", 6, "header says width 3, row has 4"),
        (
            "rows.map",
            "type octile\nheight 3\nwidth 3\nmap\n...\n...\n",
            6,
            "header says height 3, found 2 rows",
        ),
        ("char.map", "type octile\nheight 1\nwidth 3\nmap\n.#.\n", 5, "unexpected character '#' at column 2"),
        ("nomap.map", "type octile\nheight 1\nwidth 3\n", 3, "missing the 'map' line"),
        ("int.map", "type octile\nheight two\nwidth 3\nmap\n...\n", None, "height must be an integer"),
        ("key.map", "type octile\nsize 3\nmap\n", 2, "expected a header line"),
        ("walls.txt", "###\n#.#\n###\n", None, "unsolvable"),
        ("isolated.txt", ".#.\n#.#\n.#.\n", None, "unsolvable"),
    ],
)
def test_malformed_files_name_file_line_and_reason(tmp_path, name, text, line, reason):
    path = write(tmp_path, name, text)
    with pytest.raises(MapFormatError) as err:
        read_map(path)
    assert err.value.path == str(path) and err.value.line == line
    assert reason in str(err.value) and str(path) in str(err.value)
    if line is not None:
        assert f"line {line}" in str(err.value)


def test_missing_file_and_unknown_set():
    with pytest.raises(MapFormatError, match="no such file"):
        read_map("/nonexistent/map.txt")
    with pytest.raises(FileNotFoundError, match="map sets there"):
        resolve_map_files("no-such-set")


def test_generators_are_deterministic_and_shaped():
    np.testing.assert_array_equal(random_map(20, 20, 0.2, 5), random_map(20, 20, 0.2, 5))
    assert not np.array_equal(maze_map(21, 0.1, 0), maze_map(21, 0.1, 1))
    maze = maze_map(21, 0.0, 0)
    # a perfect maze: free cells = 10 * 10 corridor cells + 99 passages between them (a spanning tree)
    assert (~maze).sum() == 100 + 99
    # corridors two cells wide: 6 x 6 corridor cells of 2 x 2, and 35 passages of 1 x 2 in the walls
    assert (~maze_map(19, 0.0, 0, corridor=2)).sum() == 36 * 4 + 35 * 2
    with pytest.raises(ValueError, match="maze size must be"):
        maze_map(20, 0.1, 0, corridor=2)
    wh = warehouse_map(33, 46, 10, 3)
    assert wh[:3].sum() == 0 and wh[-3:].sum() == 0 and wh[3].sum() == 30


def test_cli_writes_the_header(tmp_path):
    main(["random", "--size", "8", "--density", "0.1", "--seed", "2", "--out", str(tmp_path / "x.txt")])
    grid = read_map(tmp_path / "x.txt")
    assert grid.meta["seed"] == "2" and grid.meta["generator"] == "random size=8x8 density=0.1"
    np.testing.assert_array_equal(grid.obstacles, random_map(8, 8, 0.1, 2))


def test_committed_map_set_is_reproducible_and_small(tmp_path):
    regenerated = committed_set(tmp_path)
    committed = sorted(p for p in MAPS_ROOT.rglob("*") if p.is_file())
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()) == [
        p.relative_to(MAPS_ROOT) for p in committed
    ]
    for path in regenerated:
        assert path.read_bytes() == (MAPS_ROOT / path.relative_to(tmp_path)).read_bytes()
        assert {"generator", "seed", "command"} <= read_map(path).meta.keys()
    assert sum(p.stat().st_size for p in committed) < 2_000_000


def test_absolute_globs_empty_folders_and_binary_files_are_read_or_named(tmp_path):
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text("..\n..\n")
    assert resolve_map_files(str(tmp_path / "*.txt")) == [tmp_path / "a.txt", tmp_path / "b.txt"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no map files"):
        resolve_map_files(str(tmp_path / "empty"))
    (tmp_path / "binary.map").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(MapFormatError, match=r"binary\.map: not a text map file \(byte 0 is not UTF-8\)"):
        read_map(tmp_path / "binary.map")
