"""Stages and training plans: ``--stages`` text, the epochs each stage covers, ``training.json`` round trips."""

import json

import pytest

from fashion_seg.errors import ConfigError
from fashion_seg.trainer.plan import Profile, Stage, TrainingPlan, format_stages, parse_stages


def test_the_seed_schedule_parses_into_two_stages():
    stages = parse_stages("heads:10,all:15:0.1")
    assert stages == (Stage("heads", 10, 1.0), Stage("all", 15, 0.1))
    assert format_stages(stages) == "heads:10,all:15:0.1"


def test_three_stages_with_spaces_and_a_regular_expression():
    stages = parse_stages(" heads:2 , 4+:3:0.5, (res5.*)|(mrcnn\\_.*):1:0.25")
    assert [(s.layers, s.epochs, s.lr_factor) for s in stages] == [
        ("heads", 2, 1.0), ("4+", 3, 0.5), ("(res5.*)|(mrcnn\\_.*)", 1, 0.25)]


@pytest.mark.parametrize("text, named", [
    ("heads", "'heads'"),                 # no epochs
    ("heads:x", "'heads:x'"),             # epochs not a number
    ("all:1.5", "'all:1.5'"),             # epochs not an integer
    ("all:3:fast", "'all:3:fast'"),       # factor not a number
    ("heads:1,", "''"),                   # an empty stage
    (":3", "':3'"),                       # no layers
    ("all:0", "epochs=0"),
    ("all:5:-1", "-1.0"),
    ("all:5:0", "0.0"),
    ("[bad:3", "'[bad'"),                 # neither a layer set nor a regular expression
])
def test_bad_stages_are_refused_naming_the_bad_part(text, named):
    with pytest.raises(ConfigError) as error:
        parse_stages(text)
    assert named in str(error.value)


def test_epochs_count_over_the_whole_run():
    plan = TrainingPlan(stages=parse_stages("heads:2,4+:3,all:4:0.1"))
    assert plan.total_epochs == 9
    assert plan.stage_ends() == [2, 5, 9]
    # Keras counts epochs from 0: epoch 0-1 heads, 2-4 4+, 5-8 all; past the end stays in the last stage
    assert [plan.stage_of(epoch) for epoch in range(11)] == [0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2]
    assert plan.describe_stages() == "heads 1-2 (lr x1), 4+ 3-5 (lr x1), all 6-9 (lr x0.1)"


def test_a_plan_survives_its_json_file(tmp_path):
    plan = TrainingPlan(stages=parse_stages("all:20"), augmentation="first_place", cutout=True,
                        multiscale=(600, 1200), warmup_steps=500, decay_epochs=(10, 18), val_fraction=None,
                        val_images=450, val_metric_every=2, seed=7, profile="first_place")
    path = plan.save_json(tmp_path / "training.json")
    saved = json.loads(path.read_text())
    assert saved["stages"] == "all:20" and saved["multiscale"] == [600, 1200, None]
    assert TrainingPlan.load_json(path) == plan


@pytest.mark.parametrize("changes, named", [
    ({"augmentation": "imgaug"}, "'imgaug'"),
    ({"cutout": True}, "first_place"),
    ({"val_fraction": None}, "val_fraction and val_images"),
    ({"val_images": 10}, "val_fraction and val_images"),
    ({"decay_epochs": (18, 10)}, "[18, 10]"),
    ({"warmup_factor": 0.0}, "warmup_factor=0.0"),
    ({"val_metric_every": -1}, "val_metric_every=-1"),
    ({"stages": ()}, "at least one stage"),
])
def test_inconsistent_plans_are_refused(changes, named):
    with pytest.raises(ConfigError) as error:
        TrainingPlan().replace(**changes)
    assert named in str(error.value)


def test_a_plan_file_with_an_unknown_setting_is_refused_by_name(tmp_path):
    path = tmp_path / "training.json"
    path.write_text(json.dumps({**TrainingPlan().to_dict(), "epochs_total": 3}))
    with pytest.raises(ConfigError, match="epochs_total"):
        TrainingPlan.load_json(path)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        TrainingPlan.load_json(path)


def test_a_profile_names_its_plan():
    profile = Profile("laptop", "a small run", config={"IMAGES_PER_GPU": 1}, plan=TrainingPlan(seed=3))
    assert profile.plan.profile == "laptop" and profile.plan.seed == 3
