"""Take the README's picture of a report: render report.md (written by report.py) to HTML as GitHub shows
Markdown, open it in headless Chromium, save a PNG of the page.

    apt-get install chromium fonts-wqy-microhei      # Debian: the browser and a font with Chinese characters
    python docs/screenshot_report.py --report=out/report/report.md --output=docs/report_page.png

The Markdown is rendered with markdown-it-py (installed with Gradio, requirements-chat.txt) with tables on;
figures are loaded from beside report.md.
"""
import html
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from wuxia.configurator import configure, explain_machine_errors  # noqa: E402

# -----------------------------------------------------------------------------------------------------------
report = "out/report/report.md"
output = "docs/report_page.png"
width = 1100            # CSS pixels
height = 8000           # the window's height; the empty part below the page is cut off
chromium = "chromium"
# -----------------------------------------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
configure(globals(), sys.argv[1:])
if shutil.which(chromium) is None:
    raise SystemExit(f"{chromium!r} not found: apt-get install chromium fonts-wqy-microhei (or pass --chromium=PATH)")
try:
    from markdown_it import MarkdownIt
except ImportError:
    raise SystemExit("rendering Markdown needs markdown-it-py: pip install markdown-it-py") from None

with open(report, encoding="utf-8") as f:
    body = MarkdownIt("commonmark").enable("table").render(f.read())
STYLE = """
body { font-family: -apple-system, "Segoe UI", "WenQuanYi Micro Hei", sans-serif; font-size: 15px; line-height: 1.5;
       color: #1f2328; max-width: 1040px; margin: 24px auto; padding: 0 20px; }
h1 { border-bottom: 1px solid #d0d7de; padding-bottom: .3em; font-size: 1.9em; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .3em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 12px 0; display: block; overflow-x: auto; font-size: 13px; }
th, td { border: 1px solid #d0d7de; padding: 5px 10px; }
tr:nth-child(2n) { background: #f6f8fa; }
code { background: #eff1f3; border-radius: 5px; padding: .15em .35em; font-size: 85%; }
pre { background: #f6f8fa; border-radius: 6px; padding: 12px; white-space: pre-wrap; }
pre code { background: none; padding: 0; }
img { max-width: 100%; }
"""
page = (f"<!doctype html><html><head><meta charset='utf-8'><base href='file://{os.path.abspath(os.path.dirname(report))}/'>"
        f"<title>{html.escape(report)}</title><style>{STYLE}</style></head><body>{body}</body></html>")
with tempfile.TemporaryDirectory(prefix="report-page-") as tmp:
    page_path = os.path.join(tmp, "report.html")
    with open(page_path, "w", encoding="utf-8") as f:
        f.write(page)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                    "--allow-file-access-from-files", f"--user-data-dir={os.path.join(tmp, 'profile')}",
                    f"--window-size={width},{height}", f"--screenshot={os.path.abspath(output)}",
                    f"file://{page_path}"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
# the window is taller than the page: cut the empty bottom off (Pillow comes with matplotlib)
from PIL import Image, ImageChops  # noqa: E402
with Image.open(output) as shot:
    shot = shot.convert("RGB")
    content = ImageChops.difference(shot, Image.new("RGB", shot.size, (255, 255, 255))).getbbox()
    if content and content[3] >= shot.height - 1:
        raise SystemExit(f"the page is taller than --height={height}: pass a larger one")
    if content:
        shot = shot.crop((0, 0, shot.width, content[3] + 24))
    shot.quantize(96).save(output, optimize=True)  # 96 colours keep text and plots as they are: a third of the size
    size = shot.size
print(f"saved {output} ({os.path.getsize(output) / 1024:.0f} KB, {size[0]}x{size[1]})")
