# ruff: noqa: B904, B007, E501, T201, UP008, UP030, UP031, UP032 - the guide's code, as the guide writes it
# fmt: off
"""Guide, "Custom states": a PROGRESS state with its meta."""

from django_tasks import app


@app.task(bind=True)
def upload_files(self, filenames):
    for i, file in enumerate(filenames):
        if not self.request.called_directly:
            self.update_state(state='PROGRESS',
                meta={'current': i, 'total': len(filenames)})
