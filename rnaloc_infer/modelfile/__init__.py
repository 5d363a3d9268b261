"""A model file as the runtime trusts it and shows it: its digest (hashed once per run) and
its ONNX metadata (one reader, no onnx import).

* :mod:`.digest`: sha256 of files, remembered by (device, inode, size, mtime, ctime).
* :mod:`.metadata`: ``rnaloc.*`` metadata of an ONNX file, session or proto, and the fp32 check.
"""
