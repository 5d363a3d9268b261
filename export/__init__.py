"""Export trained models to ONNX (fo-pooling as a standard ``Scan``) and TorchScript.

Entry points: :func:`rnaloc_infer.export.onnx_export.export_onnx`,
:func:`rnaloc_infer.export.onnx_export.export_onnx_from_checkpoint`,
:func:`rnaloc_infer.export.torchscript_export.export_torchscript`. See docs/EXPORT.md.
Submodules are not imported here so that importing the package stays cheap.
"""
