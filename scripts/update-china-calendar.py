#!/usr/bin/env python3
"""Writes crates/core/data/china-calendar.txt: China's public holidays and
the weekend days worked in their place (调休), from PyPI's chinesecalendar
(https://github.com/LKI/chinese-calendar, MIT), which follows the State
Council's yearly notice (国务院办公厅关于部分节假日安排的通知).

Update procedure, each year once the State Council publishes the next year's
schedule (usually in November) and chinesecalendar has released it:

    python3 scripts/update-china-calendar.py [VERSION]   # default: newest
    git diff crates/core/data/china-calendar.txt          # check it against the notice

A deployment can also point `holiday_calendar_file` at a file of the same
form (for a year not yet released here) without a new build.
"""
import datetime
import os
import subprocess
import sys
import tempfile
import zipfile
import glob

version = sys.argv[1] if len(sys.argv) > 1 else None
out = os.path.join(os.path.dirname(__file__), "..", "crates", "core", "data", "china-calendar.txt")
with tempfile.TemporaryDirectory() as tmp:
    spec = f"chinesecalendar=={version}" if version else "chinesecalendar"
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, spec], check=True)
    wheel = glob.glob(os.path.join(tmp, "*.whl"))[0]
    zipfile.ZipFile(wheel).extractall(tmp)
    sys.path.insert(0, tmp)
    from chinese_calendar import constants  # noqa: E402
    name = os.path.basename(wheel).split("-")[1]

chinese = {h.value: h.chinese for h in constants.Holiday}
lines = [
    "# China's public holidays (off) and the weekend days worked in their place (work, 调休).",
    f"# Source: PyPI chinesecalendar {name} (https://github.com/LKI/chinese-calendar, MIT),",
    "# after the State Council's yearly notice. Written by scripts/update-china-calendar.py;",
    "# do not edit by hand. A day not listed is a business day from Monday to Friday.",
    f"# covers {min(constants.holidays).year}-{max(constants.holidays).year}",
]
days = [(d, "off", chinese.get(v, v)) for d, v in constants.holidays.items()]
days += [(d, "work", chinese.get(v, v)) for d, v in constants.workdays.items()]
for d, kind, what in sorted(days):
    lines.append(f"{d.isoformat()} {kind} {what}")
with open(out, "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")
print(f"{out}: {len(days)} days from chinesecalendar {name}")
