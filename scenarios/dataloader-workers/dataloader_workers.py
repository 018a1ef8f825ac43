"""`dataloader-workers`: the copy-on-read growth of forked DataLoader workers
(pytorch/pytorch#13246) as a leakcheck scenario.

The dataset's index is forked into every worker. `--variant leaky` keeps it as a list
of dicts: every `__getitem__` writes the reference counts of the objects it reads, so
each page of them a worker reads becomes a private copy, and the process tree's PSS
grows with the batches consumed. `--variant fixed` keeps the same metadata in compact
buffers (`array('q')` columns, one byte blob per path column) whose pages reads never
write, and gives the same samples.

The training loop marks every batch consumed (iterations count over the whole run),
wraps each epoch in a probe session and checkpoints after it.

Exit status: 0 on success, 2 for bad or impossible arguments (one line on stderr),
1 when a worker dies or the dataset raises (no `end` is sent to leakcheck then).
"""

import argparse
import hashlib
import os
import sys
import time
from array import array

from mini_loader import DataLoader, WorkerError

try:
    import leakcheck
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
    import leakcheck

DEFAULT_ITEMS = 256_000  # ~200 MiB of dicts; 4000 batches of 64, ~10 s at 2 ms a step
SAMPLE_BYTES = 256
SHAPE = (64, 64)


def record_fields(i):
    """Item i's metadata: an image chunk and its label chunk in a CellMap-style Zarr
    volume, a class, a byte range and the chunk's origin in voxels."""
    volume = f"/nrs/cellmap/data/jrc_vol-{i // 4096:04d}/jrc_vol-{i // 4096:04d}.zarr/recon-1"
    chunk = f"{i % 97}/{i % 89}/{i % 83}"
    return (
        f"{volume}/em/fibsem-uint8/s0/c/{chunk}",
        f"{volume}/labels/groundtruth/crop{i % 331}/all/s0/c/{chunk}",
        i % 1000,
        i * 4096,
        4096 + i % 4096,
        (i % 97 * 64, i % 89 * 64, i % 83 * 64),
    )


def make_sample(path, label_path, label, offset, length, shape, origin):
    """A deterministic 256-byte payload and the label. It uses every field, as a real
    loader would, so the leaky variant touches every object of a record; one blake2b
    keeps the workers cheap."""
    key = f"{path}|{label_path}|{offset}|{length}|{shape}|{origin}".encode()
    return hashlib.blake2b(key, digest_size=64).digest() * (SAMPLE_BYTES // 64), label


class DictDataset:
    """The incident: the index as a list of dicts, each with its own str, int and tuple
    objects (~830 bytes an item), all written by a read: their reference counts."""

    def __init__(self, num_items):
        self.records = []
        for i in range(num_items):
            path, label_path, label, offset, length, origin = record_fields(i)
            self.records.append({
                "path": path, "label_path": label_path, "label": label, "offset": offset,
                "length": length, "shape": SHAPE, "origin": origin,
            })

    def __len__(self):
        return len(self.records)

    def __getitem__(self, i):
        r = self.records[i]
        return make_sample(r["path"], r["label_path"], r["label"], r["offset"], r["length"],
                           r["shape"], r["origin"])


class PackedStrings:
    """Strings as one blob (a bytearray) and an array('q') of where each ends: two
    buffers whatever the count, so reading a string writes none of their pages."""

    def __init__(self):
        self.blob = bytearray()
        self.ends = array("q")

    def append(self, text):
        self.blob += text.encode()
        self.ends.append(len(self.blob))

    def __getitem__(self, i):
        return self.blob[self.ends[i - 1] if i else 0:self.ends[i]].decode()


class PackedDataset:
    """The fix: the same metadata in compact buffers; the same `__getitem__` results."""

    def __init__(self, num_items):
        self.paths = PackedStrings()
        self.label_paths = PackedStrings()
        self.labels = array("q")
        self.offsets = array("q")
        self.lengths = array("q")
        self.origins = array("q")  # z, y, x of each item
        for i in range(num_items):
            path, label_path, label, offset, length, origin = record_fields(i)
            self.paths.append(path)
            self.label_paths.append(label_path)
            self.labels.append(label)
            self.offsets.append(offset)
            self.lengths.append(length)
            self.origins.extend(origin)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return make_sample(self.paths[i], self.label_paths[i], self.labels[i], self.offsets[i],
                           self.lengths[i], SHAPE, tuple(self.origins[3 * i:3 * i + 3]))


DATASETS = {"leaky": DictDataset, "fixed": PackedDataset}


def collate(samples):
    """One batch: the payloads concatenated, and the labels."""
    return b"".join(payload for payload, _ in samples), tuple(label for _, label in samples)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but an error is one line (prog: error: ...) and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def count(what, minimum, maximum=None):
    """An argparse type: an integer in [minimum, maximum], called `what` in the error."""
    expected = f"an integer >= {minimum}" if maximum is None else f"an integer from {minimum} to {maximum}"

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}: expected {expected}")
        return value

    return parse


def milliseconds(text):
    """An argparse type: a step time in milliseconds."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 <= value <= 60_000:
        raise argparse.ArgumentTypeError(f"{text!r} is not a step time: expected milliseconds in [0, 60000]")
    return value


def parse_args(argv):
    parser = OneLineParser(prog="dataloader_workers.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", choices=sorted(DATASETS), required=True,
                        help="leaky: metadata as a list of dicts; fixed: as compact buffers")
    parser.add_argument("--iterations", type=count("an iteration count", 1),
                        help="stop after this many batches over the run (default: every batch of --epochs)")
    parser.add_argument("--epochs", type=count("an epoch count", 1),
                        help="epochs to run (default: 1, or as many as --iterations needs)")
    parser.add_argument("--workers", type=count("a worker count", 0, 256), default=2,
                        help="worker processes; 0 loads in the main process (default: 2)")
    parser.add_argument("--batch-size", type=count("a batch size", 1), default=64)
    parser.add_argument("--prefetch-factor", type=count("a prefetch factor", 1), default=2,
                        help="batches in flight per worker (default: 2)")
    parser.add_argument("--persistent-workers", action=argparse.BooleanOptionalAction, default=False,
                        help="keep the workers across epochs instead of forking new ones per epoch")
    parser.add_argument("--items", type=count("an item count", 1), default=DEFAULT_ITEMS,
                        help=f"dataset items (default: {DEFAULT_ITEMS})")
    parser.add_argument("--shuffle", action="store_true",
                        help="random order (seeded by --seed); the default sequential order makes "
                             "the leaky growth linear, shuffled it saturates within a few hundred batches")
    parser.add_argument("--step-ms", type=milliseconds, default=2.0,
                        help="simulated training step per batch (default: 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the --shuffle order")
    return parser.parse_args(argv)


def train(args, probe):
    """The training loop: a step and a mark per batch, a session per epoch, a
    checkpoint after each. Returns the number of batches consumed."""
    dataset = DATASETS[args.variant](args.items)
    loader = DataLoader(dataset, batch_size=args.batch_size, collate_fn=collate,
                        num_workers=args.workers, prefetch_factor=args.prefetch_factor,
                        persistent_workers=args.persistent_workers, shuffle=args.shuffle,
                        seed=args.seed)
    probe.note(f"variant={args.variant} items={args.items} workers={args.workers} "
               f"batch_size={args.batch_size} prefetch_factor={args.prefetch_factor} "
               f"persistent_workers={args.persistent_workers} shuffle={args.shuffle}")
    per_epoch = len(loader)
    if args.epochs is not None:
        epochs = args.epochs
    else:  # one epoch, or as many as --iterations needs
        epochs = 1 if args.iterations is None else -(-args.iterations // per_epoch)
    iterations = min(args.iterations or epochs * per_epoch, epochs * per_epoch)
    step_s = args.step_ms / 1000
    consumed = 0
    with loader:
        for epoch in range(epochs):
            with probe.session(epoch, f"epoch {epoch}"):
                for _payload, _labels in loader:
                    time.sleep(step_s)
                    probe.mark(consumed)
                    consumed += 1
                    if consumed == iterations:
                        break
            probe.checkpoint(f"after epoch {epoch}")
            if consumed == iterations:
                break
    return consumed


def main(argv=None):
    args = parse_args(argv)
    probe = leakcheck.Probe.from_env()
    start = time.monotonic()
    try:
        consumed = train(args, probe)
    except WorkerError as error:
        print(f"dataloader_workers.py: {error}", file=sys.stderr)
        return 1
    probe.end()
    print(f"{args.variant}: {consumed} batches of {args.batch_size} from {args.items} items, "
          f"{args.workers} workers, in {time.monotonic() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
