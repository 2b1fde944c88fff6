"""Language selection and UI strings (Chinese by default, English available)."""


def init_app(app):
    pass
