from django import forms

from .models import Comment

#: Characters in one comment.
COMMENT_MAX_LENGTH = 5000


class CommentForm(forms.ModelForm):
    # https for a homepage typed without a scheme (Django 6's default, explicit for 5.2).
    homepage = forms.URLField(required=False, assume_scheme="https")
    #: A comment, not a document: longer posts are refused with the form's error.
    comment = forms.CharField(max_length=COMMENT_MAX_LENGTH, widget=forms.Textarea)

    class Meta:
        model = Comment
        fields = ["name", "email", "homepage", "comment"]
