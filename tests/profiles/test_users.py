"""The train-only rule: a user's profile prompt never sees validation or test items."""

import json

from workbench.profiles.items import ItemProfilesJob
from workbench.profiles.users import UserProfilesJob


def prompt_titles(work):
    content = work.messages[1]["content"]
    history = json.loads(content.split("<history>\n")[1].split("\n</history>")[0])
    return [entry["title"] for entry in history]


def test_profile_prompts_use_training_interactions_only(toy_store):
    job = UserProfilesJob(max_history=1000)
    items = job.work_items(toy_store, toy_store.dataset())
    assert len(items) == 30
    split_of = {}
    for user, title, split in toy_store.con.execute(
            "SELECT i.user_idx, t.title, i.split FROM interactions i "
            "JOIN items t USING (dataset_id, item_idx)").fetchall():
        split_of[(user, title)] = split
    assert "valid" in split_of.values() and "test" in split_of.values()
    for work in items:
        titles = prompt_titles(work)
        assert titles, "every toy user has training items"
        assert all(split_of[(work.entity_idx, t)] == "train" for t in titles)
        n_train = sum(1 for (u, _), s in split_of.items() if u == work.entity_idx and s == "train")
        assert len(titles) == n_train


def test_history_is_capped_newest_first(toy_store):
    items = UserProfilesJob(max_history=3).work_items(toy_store, toy_store.dataset())
    work = items[0]
    assert len(prompt_titles(work)) == 3
    ts = dict(toy_store.con.execute(
        "SELECT item_idx, ts FROM interactions WHERE user_idx = ? AND split = 'train'",
        [work.entity_idx]).fetchall())
    shown = work.extra["history_items"]
    assert [ts[i] for i in shown] == sorted(ts.values(), reverse=True)[:3]


def test_generated_item_attributes_enter_profiles(toy_store):
    from workbench.augment.attributes import ItemAttributesJob
    from workbench.augment.engine import SamplingSettings
    from workbench.augment.jobs import JobRunner
    from tests.augment.fakes import FakeEngine
    from tests.augment.test_jobs import GOOD

    JobRunner(toy_store, FakeEngine(lambda c, a: GOOD), SamplingSettings(), "fake").run(
        ItemAttributesJob(), toy_store.dataset())
    user_prompt = UserProfilesJob().work_items(toy_store, toy_store.dataset())[0]
    assert '"director": "A. Director"' in user_prompt.messages[1]["content"]
    item_prompt = ItemProfilesJob().work_items(toy_store, toy_store.dataset())[0]
    assert '"attributes": {"director": "A. Director"' in item_prompt.messages[1]["content"]
