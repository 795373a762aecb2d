"""Getting source files onto disk: HTTP with resume, Kaggle, Google Drive, safe extraction,
and the lock file that pins what was downloaded."""
