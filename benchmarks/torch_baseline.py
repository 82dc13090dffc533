#!/usr/bin/env python3
"""The PyTorch reference's PredRNN training step, in plain PyTorch: the baseline.

The arithmetic of the reference implementation (Wang et al., PredRNN,
NeurIPS 2017; thuml/predrnn-pytorch), channels first as there: a stack of
ST-LSTM layers without bias or layer normalisation (docs/method.md,
"ST-LSTM"), the memory `m` passed from layer to layer and from the top layer
to the bottom one at the next step ("Zigzag memory flow"), frames patched
into `p*p` channels ("Patching"), the test-regime mask (the first `--context`
inputs are true frames, later ones the model's own predictions), the MSE over
all T - 1 predictions and one Adam step ("Prediction and training loss").
Parameter names follow the reference's checkpoints, so
`predrnn_keras.convert.convert_state_dict(model.state_dict())` copies its
weights into a Keras model. `benchmarks/bench_train_step.py --baseline` runs
it beside ours, with the same shape.

    python benchmarks/torch_baseline.py --config paper   # 4 x 128, batch 8, 64x64
    python benchmarks/torch_baseline.py --config small --steps 10   # 2 x 32
    python benchmarks/torch_baseline.py --mode inference    # forward only

Prints one JSON line: the configuration, the first step's seconds, the
median, min and max ms of `--steps` further steps, and the process's peak
resident memory after importing torch and at the end (MiB). Needs torch.
"""

import argparse
import json
import resource
import statistics
import time

import torch
from torch import nn

CONFIGS = {
    "paper": dict(layers=4, hidden=128),
    "small": dict(layers=2, hidden=32),
    "tiny": dict(layers=2, hidden=8),
}
FORGET_BIAS = 1.0


def peak_mib():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def conv(in_channels, out_channels, size):
    return nn.Conv2d(
        in_channels, out_channels, size, padding=size // 2, bias=False
    )


class STLSTMCell(nn.Module):
    """One ST-LSTM layer, with the reference's gate order and names."""

    def __init__(self, in_channels, hidden, filter_size):
        super().__init__()
        self.hidden = hidden
        # i, f, g, i', f', g', o | i, f, g, o | i', f', g'
        self.conv_x = nn.Sequential(conv(in_channels, 7 * hidden, filter_size))
        self.conv_h = nn.Sequential(conv(hidden, 4 * hidden, filter_size))
        self.conv_m = nn.Sequential(conv(hidden, 3 * hidden, filter_size))
        self.conv_o = nn.Sequential(conv(2 * hidden, hidden, filter_size))
        self.conv_last = conv(2 * hidden, hidden, 1)

    def forward(self, x, h, c, m):
        i_x, f_x, g_x, i_xm, f_xm, g_xm, o_x = torch.split(
            self.conv_x(x), self.hidden, dim=1
        )
        i_h, f_h, g_h, o_h = torch.split(self.conv_h(h), self.hidden, dim=1)
        i_m, f_m, g_m = torch.split(self.conv_m(m), self.hidden, dim=1)
        c = torch.sigmoid(f_x + f_h + FORGET_BIAS) * c + torch.sigmoid(
            i_x + i_h
        ) * torch.tanh(g_x + g_h)
        m = torch.sigmoid(f_xm + f_m + FORGET_BIAS) * m + torch.sigmoid(
            i_xm + i_m
        ) * torch.tanh(g_xm + g_m)
        memory = torch.cat([c, m], dim=1)
        o = torch.sigmoid(o_x + o_h + self.conv_o(memory))
        return o * torch.tanh(self.conv_last(memory)), c, m


class PredRNNBaseline(nn.Module):
    """The stack, its zigzag memory and the 1x1 output head."""

    def __init__(self, layers, hidden, channels, filter_size):
        super().__init__()
        self.cell_list = nn.ModuleList(
            STLSTMCell(channels if i == 0 else hidden, hidden, filter_size)
            for i in range(layers)
        )
        self.conv_last = conv(hidden, channels, 1)

    def forward(self, frames, mask, context):
        """Predictions of frames 1 .. T-1 of patched `(B, T, C, H, W)` frames.

        `mask`: `(B, T - 1 - context)`, 1 where step `context + j` reads the
        true frame, 0 where it reads the previous prediction.
        """
        batch, steps, _, height, width = frames.shape
        hidden = self.cell_list[0].hidden
        zeros = frames.new_zeros(batch, hidden, height, width)
        h = [zeros] * len(self.cell_list)
        c = [zeros] * len(self.cell_list)
        m = zeros
        predictions = []
        for t in range(steps - 1):
            if t < context:
                x = frames[:, t]
            else:
                keep = mask[:, t - context, None, None, None]
                x = keep * frames[:, t] + (1 - keep) * predictions[-1]
            for i, cell in enumerate(self.cell_list):
                h[i], c[i], m = cell(x, h[i], c[i], m)
                x = h[i]
            predictions.append(self.conv_last(h[-1]))
        return torch.stack(predictions, dim=1)


def patch(frames, p):
    """`(B, T, H, W, C)` -> `(B, T, p*p*C, H/p, W/p)`, as the reference patches
    (channels last) and then reads (channels first)."""
    b, t, height, width, c = frames.shape
    x = frames.reshape(b, t, height // p, p, width // p, p, c)
    x = x.permute(0, 1, 2, 4, 3, 5, 6)
    x = x.reshape(b, t, height // p, width // p, p * p * c)
    return x.permute(0, 1, 4, 2, 3).contiguous()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", choices=sorted(CONFIGS), default="small")
    parser.add_argument(
        "--mode",
        choices=["train", "inference"],
        default="train",
        help="train: forward, backward, Adam; inference: forward only",
    )
    parser.add_argument(
        "--precision",
        choices=["float32", "bfloat16"],
        default="float32",
        help="bfloat16: under torch.autocast (not the reference's)",
    )
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--image", type=int, default=64)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--patch", type=int, default=4)
    parser.add_argument("--filter", type=int, default=5)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--context", type=int, default=10)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument(
        "--threads", type=int, help="torch threads (default: torch's)"
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None):
    import_mib = peak_mib()
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    config = CONFIGS[args.config]
    channels = args.patch * args.patch * args.channels
    model = PredRNNBaseline(
        config["layers"], config["hidden"], channels, args.filter
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    # The reference's trainer patches each batch before its training step.
    frames = patch(
        torch.rand(
            args.batch, args.frames, args.image, args.image, args.channels
        ),
        args.patch,
    )
    mask = torch.zeros(args.batch, args.frames - 1 - args.context)
    autocast = torch.autocast(
        "cpu", dtype=torch.bfloat16, enabled=args.precision == "bfloat16"
    )

    def train_step():
        optimizer.zero_grad()
        with autocast:
            predictions = model(frames, mask, args.context)
        loss = ((predictions.float() - frames[:, 1:]) ** 2).mean()
        loss.backward()
        optimizer.step()

    def inference_step():
        with torch.no_grad(), autocast:
            model(frames, mask, args.context)

    step = train_step if args.mode == "train" else inference_step
    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1000)
    print(json.dumps({
        "impl": "torch_baseline",
        "config": args.config,
        "mode": args.mode,
        "precision": args.precision,
        "batch": args.batch,
        "first_step_s": round(first, 2),
        "ms_median": round(statistics.median(times), 1),
        "ms_min": round(min(times), 1),
        "ms_max": round(max(times), 1),
        "import_mib": import_mib,
        "peak_mib": peak_mib(),
    }))


if __name__ == "__main__":
    main()
