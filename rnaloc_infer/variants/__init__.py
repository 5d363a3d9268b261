"""Variant effect on localisation: ``rnaloc-variants`` annotates a VCF, SpliceAI-style.

For each ALT allele and each transcript whose exons hold the variant, the change in every
class's probability between the alt and the reference transcript (docs/VARIANTS.md).
Pure logic lives here (no click); the VCF is read and written with pysam (extra ``[variants]``).
"""
