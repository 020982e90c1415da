"""People: the faces in pictures and video frames, found, described and grouped into people.

`finder` finds faces and describes each with a 128-number vector (dlib's HOG detector, its
5-point landmarks and its ResNet descriptor: real weights that ship in the `dlib-bin` and
`face_recognition_models` packages, public domain, run offline); `analysis` makes that one of the
indexer's analyses (beside OCR: `picfind.analysis`); `grouping` puts faces together into people,
incrementally and deterministically, never undoing what the user said. The catalogs keep the
faces and people (`catalogs/*/faces.py`); the library is the door (`picfind.library.people`).
"""
