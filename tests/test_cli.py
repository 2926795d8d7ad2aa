import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from shotrender.cli import cli

from helpers import cut, episode, run_cli, write_shotlist

DOCS = Path(__file__).resolve().parents[1] / "docs" / "commands.md"
COMMANDS = sorted(cli.commands)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_with_an_example_and_a_docs_entry(name):
    command = cli.commands[name]
    assert command.help and "shotrender " + name in command.help, f"{name} needs help text with an example"
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0
    assert re.search(rf"^## shotrender {name}$", DOCS.read_text(), re.M), f"docs/commands.md lacks {name}"
    for param in command.params:
        if param.name != "help" and isinstance(param, __import__("click").Option):
            assert param.help, f"{name} {param.opts[0]} has no help text"


def test_validate_ok_and_bad_exit_codes(tmp_path):
    good = write_shotlist(tmp_path / "good", episode([cut("C001")]))
    out = run_cli("validate", str(good))
    assert out.returncode == 0 and "ok" in out.stdout
    bad = write_shotlist(tmp_path / "bad", episode([cut("C001", strength=3)]))
    out = run_cli("validate", str(bad))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert re.search(r"episode\.yaml:\d+: cuts\[0\]\.strength \(cut C001\): must be in \(0, 1\]", out.stderr)


def test_missing_file_and_bad_selector_exit_2(tmp_path):
    assert run_cli("validate", str(tmp_path / "none.yaml")).returncode == 2
    good = write_shotlist(tmp_path, episode([cut("C001")]))
    out = run_cli("plan", str(good), "--cuts", "C404")
    assert out.returncode == 2 and "no cut 'C404'" in out.stderr and "Traceback" not in out.stderr


def test_json_output_is_the_same_document_as_json_dumps():
    from shotrender.files import readable_json

    doc = {"a": [1, 2.5, None], "b": [{"c": "é \"q\"\n", "d": [{"e": []}, {}]}], "f": {}, "g": [], "h": [[1], [2]]}
    for depth in range(5):
        assert json.loads(readable_json(doc, depth)) == doc
        assert readable_json(doc, depth, sort_keys=True) == readable_json(json.loads(json.dumps(doc, sort_keys=True)),
                                                                          depth)
    assert readable_json(doc, 2).count("\n") > readable_json(doc, 1).count("\n") > 0


@pytest.mark.parametrize("args", [["plan", "--cuts", ""], ["plan", "--chain", ","], ["render", "--force-cuts", ""],
                                  ["render", "--cuts", ""]])
def test_an_empty_selector_exits_2_and_renders_nothing(tmp_path, args):
    path = write_shotlist(tmp_path, episode([cut("C001")]))
    command, *options = args
    out = run_cli(command, str(path), *options)
    assert out.returncode == 2, out.stdout + out.stderr
    assert f"shotrender: {options[0]} {options[1]!r}: the value is empty" in out.stderr
    assert not (tmp_path / "renders").exists()


@pytest.mark.parametrize("model, why", [("./models/sd15", "it starts like a path"),
                                        ("models/sd15", "models/ is a folder there"),
                                        ("models/base/sd15", "it has more than one '/'"),
                                        ("anime_bg.safetensors", "it ends with .safetensors"),
                                        ("sd15", "it has no '/'")])
def test_a_model_path_that_is_not_there_fails_before_torch_is_imported(tmp_path, monkeypatch, model, why):
    from helpers import run_cli_watching_imports

    path = write_shotlist(tmp_path, episode([cut("C001")]))
    (tmp_path / "models").mkdir()
    monkeypatch.chdir(tmp_path)  # --model is relative to the current folder, which the child inherits
    code, imported, out = run_cli_watching_imports("render", str(path), "--model", model)
    assert (code, imported) == (2, []), out.stderr
    assert f"--model {model!r} does not exist in {tmp_path} (the current folder); it is read as a path, as {why}" \
        in out.stderr
    assert "owner/name" in out.stderr and not (tmp_path / "renders").exists()


def test_a_shot_list_model_under_an_existing_folder_is_a_path_not_a_hub_id(tmp_path):
    from helpers import run_cli_watching_imports

    path = write_shotlist(tmp_path, episode([cut("C001")], model="models/sd15"))
    (tmp_path / "models").mkdir()
    code, imported, out = run_cli_watching_imports("validate", str(path))
    assert (code, imported) == (2, []), out.stdout
    assert re.search(r"episode\.yaml:\d+: model: 'models/sd15' does not exist in .* \(the shot list's folder\); it is "
                     r"read as a path, as models/ is a folder there", out.stderr)


def test_a_draft_render_never_imports_torch(tmp_path):
    from helpers import run_cli_watching_imports

    path = write_shotlist(tmp_path, episode([cut("C001"), cut("C002")]))
    code, imported, out = run_cli_watching_imports("render", str(path), "--progress", "none")
    assert (code, imported) == (0, []) and "ep01: 2 rendered" in out.stdout, out.stderr


def test_export_job_never_writes_over_the_shot_list_or_a_layout(tmp_path):
    path = write_shotlist(tmp_path, episode([cut("C001")]))
    before = {p: p.read_bytes() for p in (path, tmp_path / "layouts" / "C001.png")}
    for target in before:
        result = run_cli("export-job", str(path), "-o", str(target))
        assert result.returncode == 2 and "name another file to write" in result.stderr, result.stderr
    assert {p: p.read_bytes() for p in before} == before


def test_status_and_check_answer_for_a_preview_as_render_preview_painted_it(tmp_path):
    # status had no --preview (every cut of a preview's folder stale: "width changed") and check on that
    # folder ended with a traceback (a half-size picture against a full-size sheet)
    import yaml

    from helpers import pan_layouts

    paths = pan_layouts(tmp_path / "layouts")
    data = {"version": 1, "episode": "ep01", "size": [256, 144], "model": "draft", "output": "out",
            "defaults": {"steps": 2, "prompt": "park"}, "backgrounds": {"park": {}},
            "preview": {"steps": 1, "scale": 0.5},
            "cuts": [{"id": p.stem, "layout": f"layouts/{p.name}", "bg": "park"} for p in paths]}
    shotlist = tmp_path / "episode.yaml"
    shotlist.write_text(yaml.safe_dump(data, sort_keys=False))
    runner = CliRunner()

    def run(*args):
        result = runner.invoke(cli, [*args, str(shotlist)])
        assert result.exit_code == 0 and result.exception is None, (args, result.output)
        return result.output

    run("render", "--preview")
    assert "4 up to date" in run("status", "--preview")
    checked = run("check", "--preview")
    assert "sheet" in checked and "flow" in checked and "not 256×144" not in checked and "not both" not in checked
    told = run("check", "--out", str(tmp_path / "out-preview"))  # the folder given as a final's
    assert "not 256×144" in told and "give --preview" in told


def test_counts_of_one_are_grammatical(tmp_path):
    # "1 units", "1 cuts in 1 chains", "1 backgrounds"
    path = write_shotlist(tmp_path, episode([cut("C001")], backgrounds={"park": {"prompt": "city park"}}))
    runner = CliRunner()
    said = ""
    for command in (["validate"], ["plan"], ["units"], ["render", "--progress", "none"], ["report"]):
        result = runner.invoke(cli, [*command, str(path)])
        assert result.exit_code == 0, (command, result.output)
        said += result.output
    html = (tmp_path / "renders" / "ep01" / "report.html").read_text()
    assert "1 cut, 1 background, 1 chain," in said and "1 unit (one per chain)" in said, said
    for text in (said, html):
        wrong = re.findall(r"\b1 (?:cuts|chains|units|backgrounds|sheet units|cut units|attempts)\b", text)
        assert not wrong, wrong
