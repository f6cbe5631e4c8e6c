import json

from evaluation.report import EvaluationResult, format_table, write_hypotheses, write_report


def result(split: str) -> EvaluationResult:
    return EvaluationResult(
        split, {"bleu4": 24.5, "rouge_l": 50.25}, [("dev/x", "über alles", "über\tallem")], {"samples": 1}, "conv"
    )


def test_hypothesis_file_keeps_text_and_escapes_tabs(tmp_path):
    write_hypotheses(result("dev"), tmp_path / "dev.hyp.tsv")
    lines = (tmp_path / "dev.hyp.tsv").read_text(encoding="utf-8").splitlines()
    assert lines == ["name\thypothesis\treference", 'dev/x\tüber alles\t"über\tallem"']


def test_report_and_table(tmp_path):
    write_report([result("dev"), result("test")], tmp_path / "report.json", {"step": 7})
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["step"] == 7 and report["test"]["metrics"]["bleu4"] == 24.5
    assert report["dev"]["counts"] == {"samples": 1} and report["dev"]["convention"] == "conv"
    table = format_table([result("dev"), result("test")]).splitlines()
    assert table[0].split() == ["split", "bleu4", "rouge_l"]
    assert table[2].split() == ["test", "24.50", "50.25"]
    assert table[-1] == "scoring: conv"
