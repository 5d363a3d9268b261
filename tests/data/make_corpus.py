"""Regenerate the bad-input corpus in this folder: `python tests/data/make_corpus.py`.

Each file is small and exercises one failure mode; tests/test_robustness.py maps every file
to its expected behaviour. Files too large or too odd to keep (100 kB header, corrupt
models) are generated inside the tests.
"""

import gzip
import random
from pathlib import Path

HERE = Path(__file__).parent
SEQ = "ACGUACGGAUCCAUGGCAUUAGCCAUGACGUAGCUAGCUAGCAUCGAUCGAUCGAUCGAUGCAUGCAUGCUAGCUAGCUGAC"


def main() -> None:
    files = {
        "empty.fa": b"",
        "header_only.fa": b">lonely_header no sequence follows\n",
        "no_header.fa": f"{SEQ}\n>second\n{SEQ}\n".encode(),
        "protein.fa": b">sp|P69905|HBA_HUMAN Hemoglobin subunit alpha\nMVLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTKTYFPHFDLSHGSAQVKGHGKKVADAL\n",
        "reads.fq": f"@read1\n{SEQ}\n+\n{'I' * len(SEQ)}\n".encode(),
        "crlf.fa": f">crlf1 windows line endings\r\n{SEQ[:40]}\r\n{SEQ[40:]}\r\n>crlf2\r\n{SEQ}\r\n".encode(),
        "duplicate_ids.fa": f">dup first\n{SEQ}\n>dup second\n{SEQ[::-1]}\n".encode(),
        "zero_length.fa": f">before\n{SEQ}\n>empty\n>after\n{SEQ}\n".encode(),
        "all_n.fa": b">all_n\n" + b"N" * 500 + b"\n",
        "one_nt.fa": b">one\nA\n",
        "nonutf8_header.fa": b">latin1_\xe9\xff\xfe header\n" + SEQ.encode() + b"\n",
        "wrapped_mixed_case.fa": f">mixed\n{SEQ[:10].lower()}\n{SEQ[10:30]}\n\n{SEQ[30:]}\n".encode(),
    }
    rng = random.Random(9)
    files["junk.bin"] = bytes(rng.randrange(256) for _ in range(512))
    full = gzip.compress(b"".join(f">r{i}\n{SEQ * 20}\n".encode() for i in range(200)), mtime=0)
    files["truncated.fa.gz"] = full[: len(full) // 2]
    for name, data in files.items():
        (HERE / name).write_bytes(data)


if __name__ == "__main__":
    main()
