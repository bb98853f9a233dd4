"""The configuration reference: every field documented, the committed page up to date, the CLI listing."""

import dataclasses
from pathlib import Path

import pytest

from icrl.cli import main
from icrl.config import SECTIONS
from icrl.config.reference import REGENERATE, render_markdown, render_text

PAGE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
ALL_FIELDS = [(name, spec) for name, cls in SECTIONS.items() for spec in dataclasses.fields(cls)]


@pytest.mark.parametrize(("section", "spec"), ALL_FIELDS, ids=[f"{s}.{f.name}" for s, f in ALL_FIELDS])
def test_every_field_has_a_doc_and_states_its_allowed_values(section: str, spec: dataclasses.Field) -> None:
    doc = spec.metadata.get("doc", "")
    assert doc.strip(), f"{section}.{spec.name} has no doc: declare it with setting(default, doc, rule)"
    assert "\n" not in doc, f"{section}.{spec.name}: the doc is one line"
    if spec.type != "bool":
        assert spec.metadata.get("rule") is not None, f"{section}.{spec.name} states no allowed values (a rule)"


def test_committed_page_is_the_generated_one() -> None:
    assert PAGE.exists(), f"docs/configuration.md is missing; generate it with `{REGENERATE}`"
    assert PAGE.read_text() == render_markdown() + "\n", \
        f"docs/configuration.md is out of date with the field declarations; regenerate it with `{REGENERATE}`"


def test_icrl_config_lists_every_field_of_a_section(capsys: pytest.CaptureFixture) -> None:
    assert main(["config", "learn"]) == 0
    out = capsys.readouterr().out
    for spec in dataclasses.fields(SECTIONS["learn"]):
        assert f"learn.{spec.name} = " in out
    assert "learn.popart_beta = 0.0005" in out and "(float: a number in (0, 1])" in out
    assert "model." not in out


def test_icrl_config_without_section_lists_all_and_markdown_is_the_page(capsys: pytest.CaptureFixture) -> None:
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert all(f"{section}.{spec.name} = " in out for section, spec in ALL_FIELDS)
    assert main(["config", "--markdown"]) == 0
    assert capsys.readouterr().out == render_markdown() + "\n"


def test_unknown_section_is_named_with_the_closest(capsys: pytest.CaptureFixture) -> None:
    assert main(["config", "lern"]) == 2
    assert "did you mean 'learn'?" in capsys.readouterr().err


def test_train_help_points_to_the_reference(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "icrl config [SECTION]" in capsys.readouterr().out


def test_options_beyond_the_method_are_grouped_and_labelled() -> None:
    beyond = {f"{s}.{f.name}" for s, f in ALL_FIELDS if f.metadata["beyond_method"]}
    assert {"learn.dynamics_coeff", "learn.target_entropy", "model.separate_actor_trunk",
            "replay.mirror_actions", "explore.box_noise"} <= beyond
    assert "learn.gamma" not in beyond
    text = render_text("learn")
    marker = text.index("options not in the published method")
    assert text.index("learn.dynamics_coeff = ") > marker > text.index("learn.batch_size = ")
    page = render_markdown()
    learn = page[page.index("## `learn`"):page.index("## `replay`")]
    assert learn.index("`learn.dynamics_coeff`") > learn.index("Options not in the published method")


def test_a_reader_that_leaves_early_gets_no_traceback() -> None:
    """``icrl config | head -1``: the pipe closes before icrl writes; it exits quietly (141, as a shell's SIGPIPE)."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "icrl", "config", "--markdown"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # no reader is left when icrl writes
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and "Traceback" not in err, err
