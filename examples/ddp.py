"""torch DistributedDataParallel (gloo, 2 processes on CPU) with an exact global mean: each
process holds a different number of ignored labels, so per-process means would be wrong.

    python examples/ddp.py
"""
import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import crossloss
import crossloss.distributed

WORLD = 2


def train(rank, port):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    torch.manual_seed(0)  # the same data and initial weights everywhere; each rank takes its shard
    x, labels = torch.randn(16, 4), torch.randint(0, 3, (16,))
    labels[:6] = -1  # rank 0's shard has six ignored labels, rank 1's none
    net = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(4, 3))
    loss = crossloss.get("scce", from_logits=True, ignore_index=-1)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    shard = slice(rank * 8, (rank + 1) * 8)
    for step in range(5):
        optimizer.zero_grad()
        total, count = loss.parts(labels[shard], net(x[shard]))
        value = crossloss.distributed.global_mean(total, count)  # DDP's gradient average makes it exact
        value.backward()
        optimizer.step()
        reported = value.detach().clone()
        dist.all_reduce(reported)
        if rank == 0:
            print(f"step {step}: global mean loss {float(reported) / WORLD:.4f}")
    dist.barrier()
    os._exit(0)  # skip interpreter teardown: gloo's threads can abort in C++ destructors


if __name__ == "__main__":
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(train, args=(port,), nprocs=WORLD, join=True)
