"""What the pages' forms share."""

from flask import request
from flask_wtf import FlaskForm
from werkzeug.datastructures import CombinedMultiDict


class TextForm(FlaskForm):
    """A form of text fields. A file sent in a field's place is no value: FlaskForm reads the
    uploaded files before the fields, and a file where text is expected broke the validators (a
    500 for anyone who posted one)."""

    class Meta(FlaskForm.Meta):
        def wrap_formdata(self, form, formdata):
            formdata = super().wrap_formdata(form, formdata)
            return request.form if isinstance(formdata, CombinedMultiDict) else formdata
