# rnaloc-infer runtime image: CPU inference only (numpy + ONNX Runtime, no torch), ~400 MB.
#   docker build -t rnaloc-infer .
#   docker run --rm -v "$PWD:/data" -w /data rnaloc-infer transcripts.fa.gz -o predictions.tsv
# Genome input: build with --build-arg EXTRAS=genome (adds pyfaidx, biopython).
FROM python:3.11-slim

ARG EXTRAS=""
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# Only what the wheel is built from (see [tool.setuptools] in pyproject.toml).
COPY pyproject.toml README.md ./
COPY rnaloc_infer/ rnaloc_infer/
COPY cli/ cli/
COPY training/ training/
COPY export/ export/
RUN pip install ".${EXTRAS:+[$EXTRAS]}" \
    && rm -rf /src \
    && rnaloc-infer --version \
    && python -c "import rnaloc_infer.data as d; print(d.example_fasta())"

RUN useradd --create-home --uid 1000 rnaloc
USER rnaloc
WORKDIR /data
ENTRYPOINT ["rnaloc-infer"]
CMD ["--help"]
