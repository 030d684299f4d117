"""Web client: Jinja2 templates, static files and translations."""

from pathlib import Path

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
# The e-learning modules shipped with the server (the `learning_modules_dir` setting's default).
MODULES_DIR = Path(__file__).parent / "elearning" / "modules"
