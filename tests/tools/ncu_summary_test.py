"""tools/ncu_summary.py on a sample of ncu's CSV (tests/tools/ncu_sample.txt, in the format
`ncu --csv --page details --metrics ...` prints): units, thousands separators, unreadable values,
grouping by kernel, time-weighted means and FFMA throughput. Run by ctest as tools.ncu_summary."""
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "tools", "ncu_summary.py")
SAMPLE = os.path.join(ROOT, "tests", "tools", "ncu_sample.txt")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import ncu_summary  # noqa: E402


class NcuSummaryTest(unittest.TestCase):
    def test_launches_units_and_separators(self):
        with open(SAMPLE) as f:
            launches = ncu_summary.read_launches(f.read())
        self.assertEqual(len(launches), 3)
        us = [l["metrics"][ncu_summary.DURATION] for l in launches]
        self.assertEqual(us, [1500.0, 250.0, 500.0])  # msecond, usecond, "500,000" nsecond
        self.assertNotIn("sm__throughput.avg.pct_of_peak_sustained_elapsed",
                         launches[1]["metrics"])  # "n/a"
        self.assertEqual(launches[2]["grid"], "(729, 2, 1)")

    def test_table_groups_kernels_by_time(self):
        out = subprocess.run([sys.executable, SCRIPT, SAMPLE, "--title", "step"],
                             capture_output=True, text=True, check=True).stdout
        rows = [line for line in out.splitlines() if line.startswith("| `")]
        conv = "`conv2d_forward_implicit_gemm_kernel<float, TileConfig<128, 128, 8, 8, 8>>`"
        self.assertTrue(rows[0].startswith("| " + conv + " | 2 | 2.000 | 88.9% | 70 |"), rows[0])
        self.assertTrue(rows[0].endswith("| 126 | 20000 |"), rows[0])  # 2 x 20e9 FMAs / 2 ms
        self.assertTrue(rows[1].startswith("| `relu_forward_inplace_kernel<float>` | 1 |"), rows[1])
        self.assertIn("3 kernel launches, 2.25 ms in all", out)

    def test_output_without_csv_is_an_error(self):
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            f.write("==ERROR== ERR_NVGPUCTRPERM - The user does not have permission\n")
        try:
            r = subprocess.run([sys.executable, SCRIPT, f.name], capture_output=True, text=True)
        finally:
            os.unlink(f.name)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no CSV header", r.stderr)

    def test_metric_lists_for_ncu(self):
        lists = {}
        for name in ("all", "basic"):
            out = subprocess.run([sys.executable, SCRIPT, "--print-metrics", name],
                                 capture_output=True, text=True, check=True).stdout.strip()
            lists[name] = out.split(",")
        self.assertEqual(lists["all"][0], ncu_summary.DURATION)
        self.assertIn(ncu_summary.FFMA, lists["all"])
        self.assertLess(set(lists["basic"]), set(lists["all"]))  # a strict subset
        self.assertNotIn(ncu_summary.FFMA, lists["basic"])

    def test_short_names(self):
        self.assertEqual(ncu_summary.short(
            "void ns::(anonymous namespace)::k<float, ns::detail::Cfg<4>>(const T1 *, int)"),
            "k<float, Cfg<4>>")


if __name__ == "__main__":
    unittest.main()
