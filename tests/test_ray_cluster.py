"""`rnaloc-infer --engine ray --address ...` against a real two-node Ray cluster (issue 22).

The head and the worker are separate raylet processes (Ray's own multi-node test cluster,
``ray.cluster_utils.Cluster``), on loopback only, with one CPU each: the two one-CPU model
actors the command asks for can only be placed one per node, so the run passes only if
work really goes to both nodes. The command runs as its own driver process and joins the
cluster by address, as it would on a real cluster (docs/DISTRIBUTED.md). Skipped without Ray.

Loopback only: Ray turns a 127.0.0.1 address into the machine's network address before it
connects (``resolve_ip_for_localhost``), where nothing listens for a cluster bound to
loopback; ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` is Ray's switch that keeps a driver on
127.0.0.1 (it is read at import, so it is set for the driver's process only). On a real
cluster the nodes' own addresses are used and nothing of this is needed.
"""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from conftest import CLI, cli_env, random_seq, write_fasta
from rnaloc_infer.cli.predict import RunOptions, run

OBJECT_STORE = 80 * 1024 * 1024  # per node; the inputs are a few kB


@pytest.fixture(scope="module")
def cluster():
    pytest.importorskip("ray", reason="Ray not installed (pip install 'rnaloc-infer[ray]')")
    pytest.importorskip("ray.data", reason="Ray Data not installed (pip install 'rnaloc-infer[ray]')")
    from ray.cluster_utils import Cluster

    node = {"num_cpus": 1, "node_ip_address": "127.0.0.1", "object_store_memory": OBJECT_STORE}
    cluster = Cluster(initialize_head=True, connect=False, head_node_args={**node, "include_dashboard": False})
    try:
        cluster.add_node(**node)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        cluster.shutdown()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cluster_inputs")
    rng = np.random.default_rng(23)
    return [str(write_fasta(folder / f"part{k}.fa", [(f"p{k}_{i}", random_seq(rng, int(rng.integers(40, 600)))) for i in range(60)]))
            for k in range(4)]


def test_two_node_cluster_output_equals_local_run(cluster, inputs, tcn_model, tmp_path):
    assert len(cluster.list_all_nodes()) == 2
    ray_out = tmp_path / "ray.tsv"
    proc = subprocess.run(
        CLI + [*inputs, "--engine", "ray", "--address", cluster.address, "--num-workers", "2", "--threads", "1",
               "--model", str(tcn_model), "-q", "-o", str(ray_out)],
        capture_output=True, text=True, env={**cli_env(), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    local_out = tmp_path / "local.tsv"
    assert run(RunOptions(inputs=inputs, output=str(local_out), model=str(tcn_model), progress=False)) == 0
    assert ray_out.read_text() == local_out.read_text()
    assert len(ray_out.read_text().splitlines()) == 1 + 4 * 60

    ray_meta = json.loads((tmp_path / "ray.tsv.json").read_text())
    local_meta = json.loads((tmp_path / "local.tsv.json").read_text())
    assert ray_meta["engine"] == "ray" and ray_meta["options"]["address"] == cluster.address
    assert ray_meta["model"]["sha256"] == local_meta["model"]["sha256"]
    assert ray_meta["summary"]["labelled"] == local_meta["summary"]["labelled"]
    assert ray_meta["summary"]["records"] == 240
