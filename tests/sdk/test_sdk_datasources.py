"""Dataset parsers: path resolution, use_raw, func, bad lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sedna.datasources import BaseDataSource, CSVDataParse, JSONDataParse, TxtDataParse


def test_txt_resolves_against_original_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index = tmp_path / "round" / "train.txt"
    index.parent.mkdir()
    index.write_text(
        "# comment\n"
        "images/a.jpg 0\n"
        "\n"
        "images/b.jpg masks/b.png\n"
        "/abs/c.jpg 1\n"
        "http://h/d.jpg 2\n"
    )
    monkeypatch.setenv("ORIGINAL_DATASET_URL", "/data/ds/index.txt")
    ds = TxtDataParse(data_type="train")
    ds.parse(str(index))
    assert ds.x.tolist() == ["/data/ds/images/a.jpg", "/data/ds/images/b.jpg", "/abs/c.jpg", "http://h/d.jpg"]
    # labels stay labels; a label that is a path is resolved too
    assert ds.y.tolist() == ["0", "/data/ds/masks/b.png", "1", "2"]
    assert ds.num_examples() == 4 and ds.bad_lines == []
    # the explicit argument wins over the environment
    ds.parse(str(index), original_dataset_url="/other/x.txt")
    assert ds.x[0] == "/other/images/a.jpg"


def test_txt_without_base_keeps_relative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORIGINAL_DATASET_URL", raising=False)
    index = tmp_path / "i.txt"
    index.write_text("a.jpg 1\n")
    ds = TxtDataParse("train")
    ds.parse(str(index))
    assert ds.x.tolist() == ["a.jpg"] and ds.y.tolist() == ["1"]


def test_txt_bad_lines_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORIGINAL_DATASET_URL", raising=False)
    index = tmp_path / "i.txt"
    index.write_bytes(b"a 1\nonly_x\nb 2\n\xff\xfe broken\nc 3\n")
    ds = TxtDataParse("train")
    ds.parse(str(index), str(tmp_path / "missing.txt"))
    assert ds.x.tolist() == ["a", "b", "c"] and ds.y.tolist() == ["1", "2", "3"]
    reasons = {(b.line, b.reason.split(" ")[0]) for b in ds.bad_lines if b.file == str(index)}
    assert reasons == {(2, "missing"), (4, "not")}
    assert any(b.reason == "file not found" for b in ds.bad_lines)


def test_txt_test_data_and_use_raw_and_func(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORIGINAL_DATASET_URL", raising=False)
    index = tmp_path / "i.txt"
    index.write_text("1,2,3\n4,5,6\nbad\n")

    def parse_line(line: str) -> list[float]:
        values = [float(v) for v in line.split(",")]
        if len(values) != 3:
            raise ValueError("need 3 values")
        return values

    test_ds = TxtDataParse("test", func=parse_line)
    test_ds.parse(str(index), use_raw=True)
    assert test_ds.is_test_data
    assert test_ds.x.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert len(test_ds.y) == 0
    assert len(test_ds.bad_lines) == 1 and "ValueError" in test_ds.bad_lines[0].reason
    raw = TxtDataParse("train")
    raw.parse(str(index), use_raw=True)
    assert raw.x.tolist() == [["1,2,3"], ["4,5,6"], ["bad"]]


def test_csv_label_column_and_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,b,label\n1,2,0\n3,4,1\n5,6,7,8\n9,10,1\n")
    ds = CSVDataParse("train")
    ds.parse(str(path))
    assert ds.x.columns.tolist() == ["a", "b"]
    assert ds.x.values.tolist() == [[1, 2], [3, 4], [9, 10]]
    assert ds.y.tolist() == [0, 1, 1]
    assert [(b.line, b.reason) for b in ds.bad_lines] == [(4, "expected 3 fields, saw 4")]
    records = CSVDataParse("train")
    records.parse([{"a": 1, "label": 0}, {"a": 2, "label": 1}])
    assert records.y.tolist() == [0, 1] and records.num_examples() == 2


def test_json_records_and_coco(tmp_path: Path) -> None:
    lines = tmp_path / "d.jsonl"
    lines.write_text('{"x": [1, 2], "label": 0}\n{not json}\n{"x": [3, 4]}\n{"x": [5, 6], "label": 1}\n')
    ds = JSONDataParse("train")
    ds.parse(str(lines), x_key="x")
    assert ds.x.tolist() == [[1, 2], [5, 6]] and ds.y.tolist() == [0, 1]
    assert sorted(b.line for b in ds.bad_lines) == [2, 3]
    coco = tmp_path / "ann" / "coco.json"
    coco.parent.mkdir()
    coco.write_text(
        json.dumps(
            {
                "images": [{"id": 1, "file_name": "img1.jpg"}, {"id": 2, "file_name": "img2.jpg"}],
                "annotations": [{"image_id": 1, "bbox": [0, 0, 1, 1]}],
            }
        )
    )
    cds = JSONDataParse("train")
    cds.parse(str(coco), original_dataset_url=str(tmp_path / "imgs" / "index.json"))
    assert cds.x.tolist() == [str(tmp_path / "imgs" / "img1.jpg"), str(tmp_path / "imgs" / "img2.jpg")]
    assert cds.y[0] == [{"image_id": 1, "bbox": [0, 0, 1, 1]}] and cds.y[1] == []


def test_base_datasource() -> None:
    ds = BaseDataSource("eval")
    assert ds.num_examples() == 0 and not ds.is_test_data
    with pytest.raises(NotImplementedError):
        ds.parse()


def test_func_may_name_a_registered_callback(tmp_path: Path) -> None:
    from sedna.common.class_factory import ClassFactory, ClassType, UnknownAlgorithmError

    @ClassFactory.register(ClassType.CALLBACK, alias="sdk-test-label-doubler")
    class Doubler:  # Sedna instantiates the registered class and calls the instance per line
        def __call__(self, line: str) -> list[str]:
            x, y = line.split()
            return [x, str(int(y) * 2)]

    index = tmp_path / "train.txt"
    index.write_text("a.png 1\nb.png 4\n")
    data = TxtDataParse(data_type="train", func="sdk-test-label-doubler")
    data.parse(str(index))
    assert data.y.tolist() == ["2", "8"]
    with pytest.raises(UnknownAlgorithmError, match="sdk-test-no-such"):
        TxtDataParse(data_type="train", func="sdk-test-no-such")
    with pytest.raises(TypeError, match="callable"):
        BaseDataSource(func=42)  # type: ignore[arg-type]


def test_txt_keeps_tokens_that_are_not_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # an IL round file of indexes and labels ("792 6"): Sedna leaves x as it is; only path-like
    # tokens are joined to the dataset directory
    monkeypatch.setenv("ORIGINAL_DATASET_URL", "/data/ds/index.txt")
    index = tmp_path / "data.txt"
    index.write_text("792 6\nimg/1.png 3\n")
    ds = TxtDataParse(data_type="train")
    ds.parse(str(index))
    assert ds.x.tolist() == ["792", "/data/ds/img/1.png"] and ds.y.tolist() == ["6", "3"]
