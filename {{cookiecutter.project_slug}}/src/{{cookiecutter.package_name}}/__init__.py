"""{{ cookiecutter.project_name }}: training, serving and monitoring of the `{{ cookiecutter.model_name }}` model."""

__version__ = "0.1.0"
