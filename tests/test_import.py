"""Importing real edge lists: the three shared networks, id remapping, formats, and every bad-file case.

The shared data sets are read in place from ``$AGORA_DATA``, else ``../shared/data`` (relative to the
project root; see ``conftest.data_file``), and never copied. Expected figures are computed here independently,
with plain Python over the file.
"""

from __future__ import annotations

import csv
import gzip
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from conftest import data_file

from sim.errors import BadFileError, BadParameterError
from sim.store.create import imported_world
from sim.store.importer import read_edge_list


@cache
def plain_rows(path: Path) -> tuple[tuple[int, int], ...]:
    """Every data line of a SNAP or CSV file as (u, v), parsed with plain Python (no numpy, no sim)."""
    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
        if path.suffix == ".csv":
            reader = csv.reader(fh)
            next(reader)  # header
            rows = [(int(r[0]), int(r[1])) for r in reader if r]
        else:
            for line in fh.read().splitlines():
                parts = line.split()
                if parts and not parts[0].startswith("#"):
                    rows.append((int(parts[0]), int(parts[1])))
    return tuple(rows)


def undirected_pairs(rows) -> set[frozenset[int]]:
    return {frozenset(r) for r in rows if r[0] != r[1]}


def world_edges(world) -> set[tuple[int, int]]:
    """The world's directed edges as (original id, original id)."""
    g = world.graph
    ids = world.columns["ids"]
    return set(zip(ids[g.sources()].tolist(), ids[g.out_indices].tolist()))


def both_directions(pairs: set[frozenset[int]]) -> set[tuple[int, int]]:
    out = set()
    for p in pairs:
        a, b = tuple(p)
        out.add((a, b))
        out.add((b, a))
    return out


@cache
def load(name: str, directed: bool = False):
    return imported_world(name, str(data_file(name)), directed=directed, seed=0)


def write(tmp_path: Path, name: str, content: bytes | str) -> str:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return str(path)


# -- email-Eu-core ------------------------------------------------------------------------------------


def test_email_file_has_the_documented_quirks():
    raw = data_file("email-Eu-core.txt").read_bytes()
    assert b"\r\n" in raw and not raw.endswith(b"\n")  # CRLF, no final newline
    rows = plain_rows(data_file("email-Eu-core.txt"))
    assert len(rows) == 25_571
    assert sum(u == v for u, v in rows) == 642
    assert len(undirected_pairs(rows)) == 16_064


def test_email_undirected():
    w = load("email-Eu-core.txt")
    rows = plain_rows(data_file("email-Eu-core.txt"))
    assert w.n == 1_005
    assert w.num_edges == 32_128 == 2 * 16_064
    assert w.graph.check() == []
    src = w.config["source"]
    assert src["kind"] == "import"
    assert src["lines"] == 25_571
    assert src["self_loops_dropped"] == 642
    assert src["directed"] is False and src["header"] is False and src["format"] == "snap"
    # Every directed edge offered (two per non-loop line) is stored once.
    assert src["duplicates_merged"] == 2 * (25_571 - 642) - 32_128
    assert world_edges(w) == both_directions(undirected_pairs(rows))


def test_email_last_line_without_newline_is_read():
    rows = plain_rows(data_file("email-Eu-core.txt"))
    last = rows[-1]
    raw = data_file("email-Eu-core.txt").read_bytes()
    assert raw.endswith(f"{last[0]} {last[1]}".encode())
    edges = world_edges(load("email-Eu-core.txt"))
    assert last in edges and last[::-1] in edges


def test_email_directed_keeps_unique_non_loop_lines():
    w = load("email-Eu-core.txt", directed=True)
    rows = plain_rows(data_file("email-Eu-core.txt"))
    expected = {r for r in rows if r[0] != r[1]}
    assert w.n == 1_005
    assert w.num_edges == len(expected)
    assert world_edges(w) == expected
    assert w.config["source"]["directed"] is True
    assert w.config["source"]["self_loops_dropped"] == 642
    assert w.config["source"]["duplicates_merged"] == (25_571 - 642) - len(expected)
    # Directed: some u->v have no v->u.
    assert any((v, u) not in expected for u, v in expected)


# -- facebook_combined --------------------------------------------------------------------------------


def test_facebook_combined():
    w = load("facebook_combined.txt")
    rows = plain_rows(data_file("facebook_combined.txt"))
    assert len(rows) == 88_234
    assert w.n == 4_039
    assert w.num_edges == 176_468 == 2 * 88_234
    assert np.array_equal(w.columns["ids"], np.arange(4_039))
    assert w.config["source"]["self_loops_dropped"] == 0
    assert w.config["source"]["duplicates_merged"] == 0
    assert world_edges(w) == both_directions(undirected_pairs(rows))
    assert w.graph.check() == []


def test_facebook_combined_directed_keeps_lines_as_given():
    w = load("facebook_combined.txt", directed=True)
    assert w.num_edges == 88_234
    assert world_edges(w) == set(plain_rows(data_file("facebook_combined.txt")))


# -- musae_facebook_edges.csv -------------------------------------------------------------------------


def test_musae_csv_with_header():
    path = data_file("musae_facebook_edges.csv")
    assert path.read_text().splitlines()[0].strip() == "source,target"
    rows = plain_rows(path)
    pairs = undirected_pairs(rows)
    nodes = {x for r in rows for x in r}
    w = load("musae_facebook_edges.csv")
    assert len(rows) == 171_002
    assert w.n == len(nodes) == 22_470
    assert w.num_edges == 2 * len(pairs)
    src = w.config["source"]
    assert src["format"] == "csv" and src["header"] is True and src["weighted"] is False
    assert src["lines"] == 171_002
    assert src["self_loops_dropped"] == sum(u == v for u, v in rows)
    assert world_edges(w) == both_directions(pairs)
    assert w.graph.check() == []


def test_read_edge_list_returns_sorted_unique_remapped_edges():
    el = read_edge_list(str(data_file("email-Eu-core.txt")))
    n = el.ids.shape[0]
    assert n == 1_005 and el.weight is None
    assert el.src.dtype == np.int32 and el.dst.dtype == np.int32 and el.ids.dtype == np.int64
    assert np.all(np.diff(el.ids) > 0)
    key = el.src.astype(np.int64) * n + el.dst
    assert np.all(np.diff(key) > 0)  # sorted by (src, dst), no duplicates
    assert el.src.min() >= 0 and max(el.src.max(), el.dst.max()) < n
    assert el.stats["lines"] == 25_571


# -- ids ----------------------------------------------------------------------------------------------


def test_original_ids_are_kept_and_looked_up():
    w = load("email-Eu-core.txt")
    ids = w.columns["ids"]
    rows = plain_rows(data_file("email-Eu-core.txt"))
    assert ids.tolist() == sorted({x for r in rows for x in r})
    for orig in (0, 1, 506, 932, int(ids[-1])):
        i = w.index_of(orig)
        assert ids[i] == orig
        assert w.agent(i).id == orig


def test_non_contiguous_ids_are_remapped(tmp_path):
    path = write(tmp_path, "sparse.txt", "100 7\n7 3000\n3000 100\n42 100\n")
    w = imported_world("sparse", path)
    assert w.columns["ids"].tolist() == [7, 42, 100, 3000]
    assert w.n == 4 and w.num_edges == 8
    assert [w.index_of(x) for x in (7, 42, 100, 3000)] == [0, 1, 2, 3]
    assert sorted(w.agent(w.index_of(100)).followers().tolist()) == [7, 42, 3000]
    assert w.agent(w.index_of(42)).followers().tolist() == [100]
    assert world_edges(w) == {(100, 7), (7, 100), (7, 3000), (3000, 7), (3000, 100), (100, 3000), (42, 100), (100, 42)}
    with pytest.raises(BadParameterError, match="no agent has id 5"):
        w.index_of(5)
    assert w.indices_of(np.array([3000, 7])).tolist() == [3, 0]


def test_negative_and_large_ids(tmp_path):
    path = write(tmp_path, "big.txt", f"-5 {2**40}\n{2**40} 9\n")
    w = imported_world("big", path)
    assert w.columns["ids"].tolist() == [-5, 9, 2**40]
    assert w.index_of(2**40) == 2


def test_directed_import_follows_direction(tmp_path):
    path = write(tmp_path, "d.txt", "1 2\n2 3\n")
    w = imported_world("d", path, directed=True)
    # u v means v follows u: 2 is a follower of 1.
    assert w.agent(w.index_of(1)).followers().tolist() == [2]
    assert w.agent(w.index_of(1)).followees().tolist() == []
    assert w.agent(w.index_of(3)).followees().tolist() == [2]


def test_agent_only_in_a_self_loop_is_kept_without_edges(tmp_path):
    # As SNAP counts nodes: an id that appears only in a self-loop is still an agent.
    path = write(tmp_path, "loop.txt", "5 5\n1 2\n")
    w = imported_world("loop", path)
    assert w.columns["ids"].tolist() == [1, 2, 5]
    assert w.num_edges == 2
    assert w.config["source"]["self_loops_dropped"] == 1
    assert w.graph.followers(w.index_of(5)).size == 0


# -- formats ------------------------------------------------------------------------------------------


def test_gzip_input_matches_plain(tmp_path):
    plain = data_file("email-Eu-core.txt")
    gz = tmp_path / "email.txt.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    a = read_edge_list(str(plain))
    b = read_edge_list(str(gz))
    assert np.array_equal(a.ids, b.ids)
    assert np.array_equal(a.src, b.src) and np.array_equal(a.dst, b.dst)
    assert b.stats["lines"] == 25_571 and b.stats["self_loops_dropped"] == 642


def test_gzip_detected_by_content_not_name(tmp_path):
    path = write(tmp_path, "edges.txt", gzip.compress(b"1 2\n2 3\n"))
    assert imported_world("gz", path).num_edges == 4


def test_comment_and_blank_lines_are_skipped(tmp_path):
    text = (
        "# Directed graph (each unordered pair of nodes is saved once): Example.txt\n"
        "# Nodes: 4 Edges: 3\n"
        "# FromNodeId\tToNodeId\n"
        "\n"
        "1\t2\n"
        "% a MatrixMarket-style comment\n"
        "   \n"
        "2\t3\n"
        "# a comment between edges\n"
        "3 4   # and one after an edge\n"
    )
    w = imported_world("c", write(tmp_path, "c.txt", text))
    assert w.columns["ids"].tolist() == [1, 2, 3, 4]
    assert w.num_edges == 6
    assert w.config["source"]["lines"] == 3
    assert w.config["source"]["header"] is False


def test_crlf_and_lone_cr_line_endings(tmp_path):
    for name, text in (("crlf.txt", "1 2\r\n2 3\r\n3 4"), ("cr.txt", "1 2\r2 3\r3 4\r")):
        w = imported_world(name, write(tmp_path, name, text))
        assert w.n == 4 and w.num_edges == 6, name


def test_utf8_bom_before_csv_header(tmp_path):
    w = imported_world("bom", write(tmp_path, "bom.csv", "\ufeffsource,target\n1,2\n"))
    assert w.num_edges == 2 and w.config["source"]["header"] is True


def test_csv_weight_column_becomes_trust(tmp_path):
    path = write(tmp_path, "w.csv", "source,target,weight\n1,2,0.5\n2,3,0.25\n3,1,0.75\n")
    w = imported_world("w", path)
    assert w.config["source"]["weighted"] is True
    g = w.graph
    trust = {}
    for u in range(w.n):
        for pos in range(g.out_indptr[u], g.out_indptr[u + 1]):
            trust[(int(w.columns["ids"][u]), int(w.columns["ids"][g.out_indices[pos]]))] = float(g.trust[pos])
    assert trust == {(1, 2): 0.5, (2, 1): 0.5, (2, 3): 0.25, (3, 2): 0.25, (3, 1): 0.75, (1, 3): 0.75}
    assert g.check() == []


def test_directed_weights_and_first_duplicate_weight_kept(tmp_path):
    path = write(tmp_path, "w.csv", "source,target,weight\n1,2,0.5\n1,2,0.9\n2,1,0.25\n")
    el = read_edge_list(path, directed=True)
    assert el.weight is not None and el.weight.dtype == np.float32
    got = {(int(el.ids[s]), int(el.ids[d])): float(x) for s, d, x in zip(el.src, el.dst, el.weight)}
    assert got == {(1, 2): 0.5, (2, 1): 0.25}
    assert el.stats["duplicates_merged"] == 1


def test_unweighted_import_draws_trust(tmp_path):
    w = imported_world("u", write(tmp_path, "u.csv", "source,target\n1,2\n2,3\n"), seed=3)
    assert w.config["source"]["weighted"] is False
    assert np.all((w.graph.trust >= 0.3) & (w.graph.trust <= 1.0))
    again = imported_world("u", str(tmp_path / "u.csv"), seed=3)
    assert np.array_equal(w.graph.trust, again.graph.trust)


def test_third_column_without_header_is_not_a_weight(tmp_path):
    # SNAP temporal files carry a timestamp in the third column: it must not become trust.
    w = imported_world("t", write(tmp_path, "t.txt", "1 2 1082040961\n2 3 1082155839\n"))
    assert w.config["source"]["weighted"] is False
    assert w.num_edges == 4
    assert np.all(w.graph.trust <= 1.0)


def test_snap_file_with_a_header_line(tmp_path):
    w = imported_world("h", write(tmp_path, "h.txt", "from to\n1 2\n2 3\n"))
    assert w.config["source"]["header"] is True
    assert w.columns["ids"].tolist() == [1, 2, 3]


def test_duplicates_merged_and_counted_undirected(tmp_path):
    path = write(tmp_path, "dup.txt", "1 2\n1 2\n2 1\n1 2\n2 3\n")
    el = read_edge_list(path)
    # 5 lines give 10 directed edges; 4 distinct remain (1<->2, 2<->3).
    assert el.src.size == 4
    assert el.stats["duplicates_merged"] == 10 - 4
    assert el.stats["lines"] == 5


def test_duplicates_merged_and_counted_directed(tmp_path):
    path = write(tmp_path, "dup.txt", "1 2\n1 2\n2 1\n1 2\n2 3\n")
    w = imported_world("dup", path, directed=True)
    assert world_edges(w) == {(1, 2), (2, 1), (2, 3)}
    assert w.config["source"]["duplicates_merged"] == 2


def test_import_is_seeded(tmp_path):
    path = str(data_file("facebook_combined.txt"))
    a = imported_world("a", path, seed=5)
    b = imported_world("b", path, seed=5)
    c = imported_world("c", path, seed=6)
    for col in ("interests", "susceptibility", "activity_rate", "persona_codes"):
        assert np.array_equal(a.columns[col], b.columns[col]), col
    assert np.array_equal(a.graph.trust, b.graph.trust)
    assert not np.array_equal(a.columns["interests"], c.columns["interests"])
    assert np.array_equal(a.graph.out_indices, c.graph.out_indices)  # the graph comes from the file only


# -- bad files ----------------------------------------------------------------------------------------


def _bad(path: str, *, directed: bool = False) -> str:
    with pytest.raises(BadFileError) as info:
        read_edge_list(path, directed=directed)
    message = str(info.value)
    assert "\n" not in message
    # The same error reaches the caller of imported_world unchanged.
    with pytest.raises(BadFileError):
        imported_world("bad", path)
    return message


def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.txt")
    msg = _bad(path)
    assert "does not exist" in msg and "nope.txt" in msg


def test_folder(tmp_path):
    assert "is a folder" in _bad(str(tmp_path))


def test_empty_file(tmp_path):
    assert "has no edges" in _bad(write(tmp_path, "empty.txt", b""))


def test_only_comments(tmp_path):
    assert "has no edges" in _bad(write(tmp_path, "c.txt", "# nothing\n# here\n\n% at all\n"))


@pytest.mark.filterwarnings("ignore:loadtxt:UserWarning")
def test_header_only_csv(tmp_path):
    assert "has no edges" in _bad(write(tmp_path, "h.csv", "source,target\n"))


def test_line_with_one_token(tmp_path):
    path = write(tmp_path, "one.txt", "1 2\n3 4\n5\n6 7\n")
    msg = _bad(path).replace(path, "FILE")  # the temporary folder's name may hold a 5
    assert "line 4" not in msg and "line 3" in msg and "found one field" in msg and "5" not in msg


def test_first_line_with_one_token(tmp_path):
    assert "line 1" in _bad(write(tmp_path, "one.txt", "5\n1 2\n"))


def test_non_integer_id(tmp_path):
    msg = _bad(write(tmp_path, "x.txt", "1 2\n3 4\n5 x7\n"))
    assert "line 3" in msg and "its second id is not a whole number" in msg and "x7" not in msg


def test_fractional_id(tmp_path):
    assert "line 2" in _bad(write(tmp_path, "f.txt", "1 2\n3 4.5\n"))


def test_line_number_counts_comments_blank_lines_and_crlf(tmp_path):
    text = "# header comment\r\n1 2\r\n\r\n# another\r\n3 4\r\n5 six\r\n7 8"
    msg = _bad(write(tmp_path, "crlf.txt", text))
    assert "line 6" in msg and "its second id" in msg and "six" not in msg


def test_line_number_in_csv_counts_the_header(tmp_path):
    msg = _bad(write(tmp_path, "bad.csv", "source,target\n1,2\n2,3\n3,abc\n"))
    assert "line 4" in msg and "its second id" in msg and "abc" not in msg


def test_line_number_inside_gzip(tmp_path):
    msg = _bad(write(tmp_path, "bad.txt.gz", gzip.compress(b"1 2\n2 3\n3\n")))
    assert "line 3" in msg


def test_bad_weight(tmp_path):
    msg = _bad(write(tmp_path, "w.csv", "source,target,weight\n1,2,0.5\n2,3,heavy\n"))
    assert "line 3" in msg and "its weight is not a number" in msg and "heavy" not in msg


def test_missing_weight(tmp_path):
    msg = _bad(write(tmp_path, "w.csv", "source,target,weight\n1,2,0.5\n2,3\n"))
    assert "line 3" in msg


def test_non_finite_weight(tmp_path):
    assert "not a finite number" in _bad(write(tmp_path, "w.csv", "source,target,weight\n1,2,0.5\n2,3,inf\n"))


def test_binary_file(tmp_path):
    blob = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8
    assert "binary" in _bad(write(tmp_path, "image.png", blob))


def test_truncated_gzip(tmp_path):
    whole = gzip.compress(b"1 2\n2 3\n" * 1000)
    assert "damaged gzip" in _bad(write(tmp_path, "t.gz", whole[: len(whole) // 2]))


def test_gzip_with_bad_checksum(tmp_path):
    whole = bytearray(gzip.compress(b"1 2\n2 3\n" * 100))
    whole[-8] ^= 0xFF  # the CRC-32 of the trailer
    assert "damaged gzip" in _bad(write(tmp_path, "crc.gz", bytes(whole)))


def test_non_utf8_bytes(tmp_path):
    assert "not UTF-8" in _bad(write(tmp_path, "latin1.txt", b"1 2\n3 4\n" + "5 6 café\n".encode("latin-1")))


def test_wrong_delimiter(tmp_path):
    assert "line 1" in _bad(write(tmp_path, "semi.txt", "1;2\n3;4\n"))


def test_id_too_large_names_its_line(tmp_path):
    msg = _bad(write(tmp_path, "huge.txt", "1 2\n3 4\n99999999999999999999 5\n"))
    assert "line 3" in msg


def test_header_only_file_raises_without_a_warning(tmp_path):
    import warnings

    path = write(tmp_path, "h.csv", "source,target\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(BadFileError, match="has no edges"):
            read_edge_list(path)
    assert [str(w.message) for w in caught] == []
