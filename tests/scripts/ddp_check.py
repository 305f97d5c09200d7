"""torch DDP, gloo, 2 processes on CPU: sharded loss and gradients against one process.
Run by tests/test_distributed.py; prints one JSON object."""
import json
import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import crossloss
import crossloss.distributed

LOSSES = {  # losses whose mean divides by a count that differs between the shards
    "sparse CE, ignore_index and class weights": dict(name="scce", from_logits=True, ignore_index=-1,
                                                       class_weight=[1.0, 2.0, 0.5], label_smoothing=0.1),
    "dice, ignored pixels": dict(name="dice", activation="softmax", ignore_index=-1, per_class=False),
}


def data():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(8, 4, dtype=torch.float64, generator=generator)
    labels = torch.randint(0, 3, (8,), generator=generator)
    labels[:3] = -1  # rank 0's half holds three ignored labels, rank 1's none
    weights = torch.rand(8, dtype=torch.float64, generator=generator)
    return x, labels, weights


def model():
    torch.manual_seed(0)
    return torch.nn.Linear(4, 3).double()


def shaped(name, logits, labels):
    return (logits[:, :, None], labels[:, None]) if name == "dice" else (logits, labels)  # dice: 1 "pixel"


def single_process(params):
    params = dict(params)
    name = params.pop("name")
    net, (x, labels, weights) = model(), data()
    logits, target = shaped(name, net(x), labels)
    value = crossloss.get(name, axis=1, **params)(target, logits, sample_weight=weights if name != "dice" else None)
    value.backward()
    return float(value.detach()), net.weight.grad.tolist()


def worker(rank, port, params, queue):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    params = dict(params)
    name = params.pop("name")
    net = torch.nn.parallel.DistributedDataParallel(model())
    x, labels, weights = (t[rank * 4:(rank + 1) * 4] for t in data())
    logits, target = shaped(name, net(x), labels)
    total, count = crossloss.get(name, axis=1, **params).parts(target, logits, weights if name != "dice" else None)
    count_before = count.detach().clone()
    value = crossloss.distributed.global_mean(total, count)
    value.backward()  # DDP averages the gradients over the two processes
    reported = value.detach().clone()
    dist.all_reduce(reported)
    naive = (total / count).detach().clone()  # each replica's own mean: what global_mean avoids
    dist.all_reduce(naive)
    if rank == 0:
        # (global_mean reduces a copy: the parts stay this replica's)
        queue.put((float(reported) / 2, net.module.weight.grad.tolist(), float(naive) / 2,
                   bool(torch.equal(count, count_before))))
    dist.barrier()  # both ranks are done communicating
    # Leave without interpreter teardown: gloo's threads can abort (SIGABRT, "terminate called
    # without an active exception") in C++ destructors at exit, about one run in four here.
    os._exit(0)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    out = {}
    context = mp.get_context("spawn")
    for label, params in LOSSES.items():
        queue = context.SimpleQueue()
        mp.spawn(worker, args=(free_port(), params, queue), nprocs=2, join=True)
        out[label] = {"ddp": queue.get(), "single": single_process(params)}
    print("JSON" + json.dumps(out))
