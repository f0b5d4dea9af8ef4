from django import forms

from .models import Comment


class CommentForm(forms.ModelForm):
    # https for a homepage typed without a scheme (Django 6's default, explicit for 5.2).
    homepage = forms.URLField(required=False, assume_scheme="https")

    class Meta:
        model = Comment
        fields = ["name", "email", "homepage", "comment"]
