import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from sklearn.metrics import f1_score, precision_score

from pipeline.errors import MasksetError
from pipeline.evaluate import classification_metrics, evaluate, predictions
from pipeline.families import load_model, save_model
from pipeline.manifest import write_manifest
from pipeline.models import ARCHITECTURES, TORCHVISION, build_model
from pipeline.preprocess import load_tensor_cache
from pipeline.svm import train_svm
from pipeline.train import (
    TRAIN_COLUMNS,
    Augment,
    SvmOptions,
    TrainConfig,
    _epoch_order,
    check_init,
    epoch_batches,
    load_training_rows,
    resolve_device,
    train,
    training_rows,
)
from tests.conftest import toy_manifest

SIZES = {"inception_v3": 75, "simple_cnn": 64}


def train_meta(arch: str, size: int):
    from pipeline.model_meta import ModelMeta

    return ModelMeta(arch, ("mask", "no_mask"), size, False, "unit", 3, 0.0, 0, 0)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize("classes", [2, 3])
def test_models_give_one_logit_per_class(arch, classes):
    model = build_model(arch, classes, 1, 64)
    assert model(torch.zeros(4, 1, 64, 64)).shape == (4, classes)


def test_loss_falls_and_model_round_trips(separable, tmp_path):
    logged = []
    config = TrainConfig(
        arch="model1", image_size=32, epochs=4, batch_size=8, lr=0.01, augment=Augment(hflip=True)
    )
    model, meta = train(separable, config, logged.append)
    assert len(logged) == 4
    assert logged[-1]["train_loss"] < logged[0]["train_loss"]
    assert meta.classes == ("mask", "no_mask") and meta.best_val_f1_macro > 0.9
    save_model(model, meta, tmp_path / "m")
    # the same weights, trained at another speed, are the same bytes: DVC sees the same model
    faster = dataclasses.replace(meta, details=meta.details | {"train_images_per_second": 1e6})
    save_model(model, faster, tmp_path / "again")
    for name in ("model.pt", "meta.json"):
        assert (tmp_path / "m" / name).read_bytes() == (tmp_path / "again" / name).read_bytes()
    loaded, meta2 = load_model(tmp_path / "m")
    preds = predictions(loaded, meta2, separable)
    assert (preds["correct"]).mean() > 0.9
    assert np.allclose(preds[["prob_mask", "prob_no_mask"]].sum(1), 1.0, atol=1e-5)


def test_training_prints_a_line_per_epoch(separable, capsys):
    logged = []
    _, meta = train(separable, TrainConfig(arch="lenet5", image_size=32, epochs=3), logged.append)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all("train_loss" in line and "val_f1_macro" in line and "images/s, ETA" in line for line in lines)
    assert lines[-1].endswith("ETA 0s") and f"kept: epoch {meta.best_epoch + 1}" in lines[-1]
    # the running best the curves draw ends at the kept model's score
    assert logged[-1]["best_val_f1_macro"] == meta.best_val_f1_macro


def test_oversampled_rows_are_drawn_as_often_as_split_says(separable):
    repeated = separable.assign(repeats=np.where(separable["label"] == "mask", 3, 1))
    _, meta = train(repeated, TrainConfig(arch="model1", image_size=32, epochs=1), lambda m: None)
    train_rows = repeated[repeated["split"] == "train"]
    assert meta.train_rows == len(train_rows)
    assert meta.details["train_draws_per_epoch"] == int(train_rows["repeats"].sum()) > len(train_rows)


@pytest.mark.slow
@pytest.mark.parametrize("arch", [*sorted(ARCHITECTURES), *sorted(TORCHVISION), "svm"])
def test_every_model_learns_in_eval_mode_and_round_trips(arch, separable, tmp_path):
    """Bright vs dark faces, a few epochs: every model, in eval mode (BatchNorm's running
    statistics, not the batch's), must beat the majority class on faces it never trained on."""
    size = SIZES.get(arch, 32 if arch in ARCHITECTURES or arch == "svm" else 64)
    config = TrainConfig(arch=arch, image_size=size, epochs=3, batch_size=8, svm=SvmOptions(C=(1.0,), pca=10))
    logged = []
    model, meta = (train_svm if arch == "svm" else train)(separable, config, logged.append)
    assert len(logged) == (1 if arch == "svm" else 3) and meta.classes == ("mask", "no_mask")
    save_model(model, meta, tmp_path / arch)
    loaded, meta2 = load_model(tmp_path / arch)
    before, after = predictions(model, meta, separable), predictions(loaded, meta2, separable)
    assert len(after) == len(separable)
    assert np.allclose(before["prob_mask"], after["prob_mask"], atol=1e-5)
    unseen = after[after["split"] != "train"]
    majority = unseen["label"].value_counts(normalize=True).max()
    assert unseen["correct"].mean() >= majority + 0.25, unseen["prediction"].value_counts().to_dict()
    assert unseen["prediction"].nunique() == 2  # not a constant predictor


@pytest.mark.parametrize("masked", [2, 4, 5])
def test_svm_with_a_tiny_class_trains_or_says_which_class_is_too_small(separable, masked):
    train_rows = separable[separable["split"] == "train"]
    few = train_rows[train_rows["label"] == "mask"].head(masked)
    df = pd.concat(
        [separable[separable["split"] != "train"], train_rows[train_rows["label"] == "no_mask"], few]
    )
    config = TrainConfig(arch="svm", image_size=16, svm=SvmOptions(C=(1.0,), pca=5))
    if masked < 4:
        with pytest.raises(MasksetError, match=rf"has {masked} mask face\(s\).*at least 4 per class"):
            train_svm(df, config, lambda m: None)
    else:
        _, meta = train_svm(df, config, lambda m: None)
        assert meta.details["cv_folds"] == 2


def test_pretrained_weights_offline_fail_with_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    for var in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")  # nothing listens: refused at once
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with pytest.raises(MasksetError, match="pretrained: false"):
        build_model("resnet18", 2, 3, 64, pretrained=True)
    with pytest.raises(MasksetError, match="no pretrained weights"):
        build_model("model1", 2, 3, 64, pretrained=True)


def test_two_phase_fine_tuning_trains_the_head_alone_first(separable):
    torch.manual_seed(0)
    config = TrainConfig(arch="resnet18", image_size=64, epochs=1, head_epochs=1, batch_size=16)
    reference = build_model("resnet18", 2, 3, 64)
    torch.manual_seed(0)
    model, _ = train(separable, config, lambda m: None)
    # the backbone's first convolution is where the seeded init left it; the head moved
    assert torch.equal(model.model.conv1.weight, reference.model.conv1.weight)
    assert not torch.equal(model.head.weight, reference.head.weight)


def test_a_model_starts_from_another_s_weights_and_only_from_one_that_fits(separable):
    first, meta = train(separable, TrainConfig(arch="model1", image_size=32, epochs=1), lambda m: None)
    # lr 0: whatever the model ends with is where it started, which is the first model
    config = TrainConfig(arch="model1", image_size=32, epochs=1, lr=0.0, seed=7)
    second, _ = train(separable, config, lambda m: None, init=first)
    for name, tensor in first.state_dict().items():
        assert torch.equal(second.state_dict()[name], tensor), name
    fresh, _ = train(separable, config, lambda m: None)
    weight = next(iter(first.state_dict()))  # without init: the seeded start, not the first model
    assert not torch.equal(fresh.state_dict()[weight], first.state_dict()[weight])
    check_init(meta, TrainConfig(arch="model1", image_size=32), ["mask", "no_mask"], "first")
    with pytest.raises(MasksetError, match=r"init_from first: .*image_size 64 vs 32; classes"):
        check_init(meta, TrainConfig(arch="model1", image_size=64), ["no_mask", "mask"], "first")


def test_the_disk_cache_is_the_same_faces_reused_until_a_file_changes(separable, tmp_path):
    paths = list(separable["path"])
    in_ram = load_tensor_cache(paths, 32, False)
    cache = tmp_path / "cache" / "train-32-rgb"
    on_disk = load_tensor_cache(paths, 32, False, cache)
    data = cache.with_suffix(".npy")
    assert torch.equal(on_disk, in_ram) and data.stat().st_size > in_ram.numel()
    built = data.stat().st_mtime_ns
    assert torch.equal(load_tensor_cache(paths, 32, False, cache), in_ram)
    assert data.stat().st_mtime_ns == built  # reused, not rebuilt
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(paths[0])  # a stage rewrote a face
    rebuilt = load_tensor_cache(paths, 32, False, cache)
    assert rebuilt[0].sum() == 0 and torch.equal(rebuilt[1:], in_ram[1:])
    on_disk[0] = 255  # copy-on-write: a change in memory never reaches the file
    assert load_tensor_cache(paths, 32, False, cache)[0].sum() == 0


def test_training_from_the_disk_cache_gives_the_same_model(separable, tmp_path):
    config = TrainConfig(arch="model1", image_size=32, epochs=2)
    from_ram, _ = train(separable, config, lambda m: None)
    from_disk, _ = train(separable, config, lambda m: None, cache_dir=tmp_path / "cache")
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [
        "train-32-rgb.json",
        "train-32-rgb.npy",
        "val-32-rgb.json",
        "val-32-rgb.npy",
    ]
    for name, tensor in from_ram.state_dict().items():
        assert torch.equal(from_disk.state_dict()[name], tensor), name


def test_the_device_is_chosen_checked_and_recorded(separable):
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(MasksetError, match=r"train\.device cuda:1: torch sees no CUDA device"):
            resolve_device("cuda:1")
    with pytest.raises(ValueError, match="device must be auto, cpu, cuda or cuda:N, got 'gpu'"):
        TrainConfig(device="gpu")
    config = TrainConfig(arch="model1", image_size=32, epochs=1, device="cpu")
    model, meta = train(separable, config, lambda m: None)
    assert meta.details["device"] == "cpu"
    # mixed precision is for CUDA: on the CPU the same model comes out
    same, _ = train(separable, dataclasses.replace(config, amp=True), lambda m: None)
    for name, tensor in model.state_dict().items():
        assert torch.equal(same.state_dict()[name], tensor), name


def test_synthetic_exclude_trains_on_real_faces_only(separable):
    faces = separable.assign(synthetic=[i % 3 == 0 for i in range(len(separable))])
    kept = training_rows(faces, TrainConfig(synthetic="exclude"))
    assert len(kept) == (~faces["synthetic"]).sum() and not kept["synthetic"].any()
    assert training_rows(faces, TrainConfig()).equals(faces)
    masks_made = separable.assign(synthetic=separable["label"] == "mask")
    with pytest.raises(MasksetError, match=r"synthetic: exclude leaves only \['no_mask'\]"):
        training_rows(masks_made, TrainConfig(synthetic="exclude"))


def test_training_reads_only_the_columns_it_uses(separable, tmp_path):
    faces = separable.assign(landmarks=[[1.0] * 136] * len(separable), sha256="ab" * 32)
    write_manifest(faces, tmp_path / "split.parquet")
    df = load_training_rows(tmp_path / "split.parquet", TrainConfig(synthetic="exclude"))
    assert list(df.columns) == list(TRAIN_COLUMNS)
    assert sorted(df["path"]) == sorted(faces["path"])


def test_loader_workers_learn_repeatably(separable):
    """Augmentation in two worker processes: the model learns, and a second run with the
    same seed and workers gives the same weights."""
    augment = Augment(hflip=True, rotation=10)
    config = TrainConfig(arch="model1", image_size=32, epochs=2, lr=0.01, loader_workers=2, augment=augment)
    runs = [train(separable, config, lambda m: None) for _ in range(2)]
    (first, meta), (second, _) = runs
    assert meta.best_val_f1_macro > 0.6
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_batches_from_workers_are_the_rows_asked_for_augmented():
    faces = torch.arange(40, dtype=torch.uint8).view(10, 1, 2, 2).repeat(1, 1, 4, 4)
    labels = torch.arange(10)
    order = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6])
    config = TrainConfig(batch_size=3, loader_workers=2)
    batches = list(
        epoch_batches(faces, labels, order, lambda x: x + 1, config, torch.device("cpu"), torch.Generator())
    )
    assert [len(y) for _, y in batches] == [3, 3, 2]
    assert torch.equal(torch.cat([y for _, y in batches]), order)
    assert torch.equal(torch.cat([x for x, _ in batches]), faces[order] + 1)


def test_early_stopping_and_schedules(separable):
    logged = []
    config = TrainConfig(arch="model1", image_size=32, epochs=8, lr=0.0, patience=2, schedule="cosine")
    _, meta = train(separable, config, logged.append)
    assert meta.epochs_run == 3 and len(logged) == 3  # lr 0: nothing improves after epoch 0
    step = TrainConfig(
        arch="model1", image_size=32, epochs=3, lr=0.1, schedule="step", step_size=1, gamma=0.5
    )
    logged = []
    train(separable, step, logged.append)
    assert [round(m["lr"], 4) for m in logged] == [0.05, 0.025, 0.0125]


def test_average_from_keeps_the_mean_of_the_epochs_weights(separable):
    """Epochs k..n averaged, not the best val epoch: with `average_from` = `epochs` the last
    epoch alone is kept, so three such runs give the weights the averaged run must mean."""
    base = TrainConfig(arch="model1", image_size=32, lr=0.01, seed=3)
    last = [
        train(separable, dataclasses.replace(base, epochs=k, average_from=k), lambda _: None)[0]
        for k in (1, 2, 3)
    ]
    model, meta = train(separable, dataclasses.replace(base, epochs=3, average_from=1), lambda _: None)
    assert meta.best_epoch == 2 and 0 <= meta.best_val_f1_macro <= 1
    names = [name for name, _ in model.named_parameters()]
    for name, weights in model.named_parameters():
        mean = torch.stack([dict(m.named_parameters())[name] for m in last]).mean(0)
        assert torch.allclose(weights, mean, atol=1e-6), name
    first, second = (dict(m.named_parameters())[names[0]] for m in last[:2])
    assert not torch.allclose(first, second)  # the epochs differ, so the mean is not any one of them


def test_balanced_sampler_draws_each_class_equally():
    labels = torch.tensor([0] * 90 + [1] * 10)
    draws = torch.arange(100)
    order = _epoch_order(draws, labels, TrainConfig(sampler="balanced"), torch.Generator().manual_seed(0))
    share = labels[order].float().mean().item()
    assert len(order) == 100 and 0.35 < share < 0.65
    plain = _epoch_order(draws, labels, TrainConfig(), torch.Generator().manual_seed(0))
    assert sorted(plain.tolist()) == list(range(100))


def test_one_class_train_split_fails_clearly(separable):
    only = separable[separable["label"] == "no_mask"]
    with pytest.raises(MasksetError, match="needs two"):
        train(only, TrainConfig(epochs=1), lambda m: None)


def test_metrics_match_scikit_learn():
    truth = pd.Series(["mask", "mask", "no_mask", "no_mask", "no_mask", "mask"])
    pred = pd.Series(["mask", "no_mask", "no_mask", "mask", "no_mask", "mask"])
    m = classification_metrics(truth, pred, ["mask", "no_mask"])
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["f1_macro"] == pytest.approx(f1_score(truth, pred, average="macro"))
    assert m["per_class"]["mask"]["precision"] == pytest.approx(
        precision_score(truth, pred, pos_label="mask")
    )


def test_macro_scores_average_over_the_classes_present_in_the_slice():
    """A source holding two of three classes: its two perfect-ish classes give the macro, not
    an absent third scored 0 (0.75 here, not 0.50)."""
    truth = pd.Series(["mask", "mask", "no_mask", "no_mask"])
    pred = pd.Series(["mask", "mask", "no_mask", "mask"])
    classes = ["mask", "no_mask", "incorrect_mask"]
    m = classification_metrics(truth, pred, classes)
    assert m["macro_over"] == ["mask", "no_mask"]
    assert m["f1_macro"] == pytest.approx(f1_score(truth, pred, average="macro"))
    assert m["recall_macro"] == pytest.approx(0.75)
    assert m["per_class"]["incorrect_mask"] == {"precision": None, "recall": None, "f1": None, "support": 0}
    # a present class the model never predicts still counts, with precision and F1 0
    never = classification_metrics(truth, pd.Series(["mask"] * 4), classes)
    assert never["per_class"]["no_mask"]["f1"] == 0.0 and never["f1_macro"] == pytest.approx(1 / 3)


def test_test_rows_of_a_label_the_model_lacks_are_counted_not_dropped_silently():
    preds = pd.DataFrame(
        {
            "id": list("abcde"),
            "split": ["test", "test", "test", "test", "train"],
            "source": "s",
            "label": ["mask", "no_mask", "incorrect_mask", "incorrect_mask", "incorrect_mask"],
            "synthetic": False,
            "prediction": ["mask", "no_mask", "mask", "no_mask", "mask"],
            "prob_mask": [0.9, 0.2, 0.8, 0.3, 0.7],
            "prob_no_mask": [0.1, 0.8, 0.2, 0.7, 0.3],
        }
    )
    preds["confidence"] = preds[["prob_mask", "prob_no_mask"]].max(axis=1)
    preds["correct"] = preds["label"] == preds["prediction"]
    metrics, _ = evaluate(preds, ["mask", "no_mask"])
    assert metrics["n"] == 2 and metrics["accuracy"] == 1.0
    assert metrics["left_out"]["n"] == 2 and metrics["left_out"]["by_label"] == {"incorrect_mask": 2}
    assert "not among the model's classes" in metrics["left_out"]["reason"]


def test_evaluate_uses_test_rows_only():
    preds = pd.DataFrame(
        {
            "id": list("abcd"),
            "split": ["test", "test", "train", "test"],
            "source": "s",
            "label": ["mask", "no_mask", "mask", "no_mask"],
            "synthetic": False,
            "prediction": ["mask", "mask", "no_mask", "no_mask"],
            "prob_mask": [0.9, 0.6, 0.2, 0.1],
            "prob_no_mask": [0.1, 0.4, 0.8, 0.9],
        }
    )
    preds["confidence"] = preds[["prob_mask", "prob_no_mask"]].max(axis=1)
    preds["correct"] = preds["label"] == preds["prediction"]
    metrics, tables = evaluate(preds, ["mask", "no_mask"])
    confusion, roc = tables["confusion"], tables["roc"]
    assert metrics["n"] == 3 and metrics["accuracy"] == pytest.approx(2 / 3)
    assert metrics["confusion_matrix"]["matrix"] == [[1, 0], [1, 1]]
    assert len(confusion) == 3 and metrics["roc_auc_mask"] == 1.0
    assert roc["tpr"].iloc[-1] == 1.0 and roc["fpr"].iloc[0] == 0.0
    assert metrics["per_source"]["s"]["n"] == 3


def test_calibration_pr_and_misclassified_tables():
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(0)
    n = 400
    label = np.where(rng.random(n) < 0.5, "mask", "no_mask")
    p_mask = np.clip(np.where(label == "mask", 0.7, 0.3) + rng.normal(0, 0.2, n), 0.01, 0.99)
    preds = pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(n)],
            "split": "test",
            "source": np.where(np.arange(n) % 4 == 0, "other", "s"),
            "label": label,
            "synthetic": False,
            "prob_mask": p_mask,
            "prob_no_mask": 1 - p_mask,
        }
    )
    preds["prediction"] = np.where(p_mask >= 0.5, "mask", "no_mask")
    preds["confidence"] = np.maximum(p_mask, 1 - p_mask)
    preds["correct"] = preds["label"] == preds["prediction"]
    train_rows = preds.head(10).assign(split="train", source="s", id=lambda d: "t" + d["id"])
    metrics, tables = evaluate(pd.concat([preds, train_rows]), ["mask", "no_mask"])
    prob_true, prob_pred = calibration_curve(
        preds["correct"], preds["confidence"], n_bins=10, strategy="uniform"
    )
    assert np.allclose(tables["calibration"]["accuracy"], prob_true)
    assert np.allclose(tables["calibration"]["confidence"], prob_pred)
    counts = tables["calibration"]["n"]
    ece = (counts * np.abs(prob_true - prob_pred)).sum() / n
    assert metrics["calibration"]["ece"] == pytest.approx(ece)
    assert metrics["average_precision_mask"] == pytest.approx(
        average_precision_score(label == "mask", p_mask)
    )
    wrong = tables["misclassified"]
    assert len(wrong) == (~preds["correct"]).sum() and wrong["confidence"].is_monotonic_decreasing
    assert list(metrics["cross_dataset"]) == ["other"]  # no train row came from it
    assert metrics["per_group"] == {}  # no group column in these predictions
    preds["wear"] = np.where(np.arange(n) % 2, "correct", "nose_exposed")
    by_wear = evaluate(preds, ["mask", "no_mask"])[0]["per_group"]["wear"]
    assert by_wear["correct"]["n"] + by_wear["nose_exposed"]["n"] == n


def test_occlusion_finds_the_part_of_the_face_that_decides(tmp_path, rng):
    """Toy faces whose class lives only in the lower half: the heat must sit there."""
    from pipeline.explain import occlusion_map

    def draw(label: str) -> np.ndarray:
        img = np.full((32, 32, 3), 120, np.uint8)
        img[16:] = 220 if label == "mask" else 30
        return np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)

    df = toy_manifest(tmp_path, 80, draw)
    model, meta = train(df, TrainConfig(arch="model1", image_size=32, epochs=4, lr=0.01), lambda m: None)
    images = load_tensor_cache([df["path"].iloc[1]], 32, False)
    heat = np.clip(occlusion_map(model, meta, images[0], meta.classes.index("mask"), 0.25), 0, None)
    assert heat[16:].sum() > 0.8 * heat.sum()
    # Grad-CAM (pytorch-grad-cam) on the last convolution agrees: the lower half decides
    from pipeline.explain import gradcam_map

    cam = gradcam_map(model, meta, images[0], meta.classes.index("mask"))
    assert cam is not None and cam.shape == (32, 32) and cam.min() >= 0 and cam.max() <= 1
    assert cam[16:].sum() > 0.7 * cam.sum()


def test_grad_cam_runs_on_every_torch_architecture_and_not_on_the_svm(separable):
    from pipeline.explain import gradcam_map
    from pipeline.families import FAMILIES

    images = load_tensor_cache(list(separable["path"].head(1)), 64, False)
    for arch in sorted(FAMILIES["torch"].archs):
        size = SIZES.get(arch, 64)
        model = build_model(arch, 2, 3, size).eval()
        image = load_tensor_cache(list(separable["path"].head(1)), size, False)[0]
        cam = gradcam_map(model, train_meta(arch, size), image, 1)
        assert cam is not None and cam.shape == (size, size), arch
    svm, meta = train_svm(
        separable, TrainConfig(arch="svm", image_size=16, svm=SvmOptions(C=(1.0,), pca=5)), print
    )
    assert gradcam_map(svm, meta, images[0][:, :16, :16], 0) is None


def _detail(img: torch.Tensor) -> float:
    """Mean absolute difference between neighbouring pixels: what blur and downscaling remove."""
    x = img.float()
    return float((x[..., 1:] - x[..., :-1]).abs().mean())


def test_degradation_augments_remove_detail_and_respect_their_probability():
    from pipeline.train import augmenter

    torch.manual_seed(0)
    img = torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)
    for key, value in (("zoom_out", 0.5), ("downscale", 0.25), ("blur", 2.0), ("jpeg", 10)):
        always = augmenter(Augment(**{key: value, "probability": 1.0}), 64)
        never = augmenter(Augment(**{key: value, "probability": 0.0}), 64)
        out = always(img)
        assert out.shape == img.shape and out.dtype == torch.uint8
        assert _detail(out) < 0.8 * _detail(img), key  # noise-like detail is lost
        assert torch.equal(never(img), img), key
    # a grey (1-channel) face goes through JPEG and the rest too
    grey = augmenter(Augment(downscale=0.5, blur=1.0, jpeg=20, probability=1.0), 64)
    assert grey(img[:1]).shape == (1, 64, 64)


def test_zoom_out_frames_the_face_loosely():
    from pipeline.train import augmenter

    torch.manual_seed(1)
    face = torch.zeros((1, 64, 64), dtype=torch.uint8)
    face[:, 8:56, 8:56] = 200  # a bright face on a dark border
    zoom = augmenter(Augment(zoom_out=0.5, probability=1.0), 64)
    for _ in range(10):
        out = zoom(face)
        bright = int((out > 100).sum())
        assert 0.2 * 48 * 48 <= bright <= 1.01 * 48 * 48  # the whole face, at most as large
        assert out.shape == face.shape


def test_top_crop_cuts_the_forehead_and_keeps_the_chin():
    from pipeline.train import augmenter

    torch.manual_seed(2)
    face = torch.zeros((1, 64, 64), dtype=torch.uint8)
    face[:, :16] = 250  # a bright forehead band over the top quarter
    face[:, 56:] = 100  # the chin: the bottom eighth
    crop = augmenter(Augment(top_crop=0.4, probability=1.0), 64)
    foreheads = []
    for _ in range(10):
        out = crop(face)
        assert out.shape == face.shape and out.dtype == torch.uint8
        foreheads.append(int((out > 200).any(dim=-1).sum()))  # rows still showing the forehead
        assert (out[:, -1] == 100).all()  # the bottom row is still the chin
    assert min(foreheads) < 16 - 4 and max(foreheads) <= 16  # at most as much, often much less
    never = augmenter(Augment(top_crop=0.4, probability=0.0), 64)
    assert torch.equal(never(face), face)
