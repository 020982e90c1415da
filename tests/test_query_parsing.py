"""Combined-query terms and filter dates, as a person types them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from picfind.filters import Filter, parse_date
from picfind.search.query import Term, combine, parse


def test_terms_operators_and_weights(tmp_path: Path) -> None:
    ref = tmp_path / "ref.jpg"
    ref.write_bytes(b"x")
    assert parse(["beach", "+", str(ref), "-", "people"]) == [
        Term(1.0, text="beach"), Term(1.0, image=str(ref)), Term(-1.0, text="people")]
    assert parse(["2:sunset", "city"]) == [Term(2.0, text="sunset"), Term(1.0, text="city")]
    assert parse(["-", "0.5:people"]) == [Term(-0.5, text="people")]
    assert parse(["12:30 lunch"]) == [Term(1.0, text="12:30 lunch")]  # a time, not a weight


@pytest.mark.parametrize("tokens, message", [
    (["a", "+", "-", "b"], "two operators"),
    (["a", "+"], "ends with an operator"),
    (["  "], "query is empty"),
    (["./holiday/beach.jpg"], "no such file"),
    (["IMG_0001.HEIC"], "no such file"),
])
def test_bad_queries_say_what_is_wrong(tokens: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse(tokens)


def test_a_folder_named_as_an_image_term_says_it_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "holiday").mkdir()
    with pytest.raises(ValueError, match="is a folder.*--in"):
        parse([f"{tmp_path}/holiday"])
    assert parse(["holiday"]) == [Term(1.0, text="holiday")]  # a bare word stays a description


def test_combination_is_a_weighted_sum_of_unit_vectors() -> None:
    a, b = np.array([3.0, 0.0]), np.array([0.0, 0.5])
    assert combine([a, b], [1.0, 1.0]) == pytest.approx(np.array([1, 1]) / np.sqrt(2))
    assert combine([a, b], [2.0, -1.0]) == pytest.approx(np.array([2, -1]) / np.sqrt(5))
    with pytest.raises(ValueError, match="cancel out"):
        combine([a, a], [1.0, -1.0])


def test_dates_as_people_write_them() -> None:
    assert parse_date("2024") == "2024-01-01 00:00:00"
    assert parse_date("2024-07") == "2024-07-01 00:00:00"
    assert parse_date("2024-07-14 18:30") == "2024-07-14 18:30:00"
    with pytest.raises(ValueError, match="not a date"):
        parse_date("yesterday")
    assert not Filter() and Filter.of(extensions=".JPG,heic").extensions == ["heic", "jpg"]


def test_an_empty_folder_filter_is_refused_not_read_as_the_working_folder() -> None:
    # abspath("") is the working folder, so `--in ""` used to pass every picture under it
    with pytest.raises(ValueError, match="empty folder name"):
        Filter.of(folders=[""])
    with pytest.raises(ValueError, match="empty folder name"):
        Filter.of(folders=["  "])
