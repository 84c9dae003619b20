"""Task trees through the real stack: positions, the nested subtree, moves, and deleting a whole subtree."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.db.tables import Event, TaskDependency, TaskSession, TimelineEntry
from app.db.tables import Session as SessionRow
from app.db.tables import Task as TaskRow
from app.ids import new_id
from app.models.common import utcnow
from app.services.tasks.commands import purge_project_tasks
from app.web import MaestroApp
from tests.test_tasks import API, events_of, make_project, make_task


async def children(client: httpx.AsyncClient, project_id: str, parent_id: str | None) -> list[tuple[str, int]]:
    """(title, position) of a parent's children (or the roots), in position order."""
    params = {"project_id": project_id, "parent_id": parent_id or "root", "sort": "position"}
    page = (await client.get(f"{API}/tasks", params=params)).json()
    return [(t["title"], t["position"]) for t in page["items"]]


def shape(node: dict) -> list:
    """A tree answer reduced to [title, [children...]]."""
    return [node["task"]["title"], [shape(c) for c in node["children"]]]


async def test_positions_on_create(client: httpx.AsyncClient, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    await make_task(client, pid, "a")
    await make_task(client, pid, "b")
    await make_task(client, pid, "first", position=0)
    await make_task(client, pid, "middle", position=2)
    await make_task(client, pid, "far", position=1000)  # clamped to the end
    assert await children(client, pid, None) == [("first", 0), ("a", 1), ("middle", 2), ("b", 3), ("far", 4)]


async def test_tree_shape_and_order(client: httpx.AsyncClient, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    root = await make_task(client, pid, "root")
    b = await make_task(client, pid, "b", parent_id=root["id"])
    a = await make_task(client, pid, "a", parent_id=root["id"], position=0)
    await make_task(client, pid, "b1", parent_id=b["id"])
    a1 = await make_task(client, pid, "a1", parent_id=a["id"])
    await make_task(client, pid, "a1x", parent_id=a1["id"])
    await make_task(client, pid, "elsewhere")
    tree = (await client.get(f"{API}/tasks/{root['id']}/tree")).json()
    assert set(tree) == {"task", "children"}
    assert tree["task"] == (await client.get(f"{API}/tasks/{root['id']}")).json()
    assert shape(tree) == ["root", [["a", [["a1", [["a1x", []]]]]], ["b", [["b1", []]]]]]
    leaf = (await client.get(f"{API}/tasks/{a1['id']}/tree")).json()
    assert shape(leaf) == ["a1", [["a1x", []]]]
    assert (await client.get(f"{API}/tasks/{new_id('tsk')}/tree")).status_code == 404

    # An archived descendant hides its subtree unless asked for.
    await client.patch(f"{API}/tasks/{a['id']}", json={"archived": True})
    assert shape((await client.get(f"{API}/tasks/{root['id']}/tree")).json()) == ["root", [["b", [["b1", []]]]]]
    full = (await client.get(f"{API}/tasks/{root['id']}/tree", params={"include_archived": "true"})).json()
    assert shape(full)[1][0][0] == "a"
    assert shape((await client.get(f"{API}/tasks/{a['id']}/tree")).json())[0] == "a"  # the root always shows


async def test_move_within_parent(client: httpx.AsyncClient, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    tasks = {t: await make_task(client, pid, t) for t in "abcd"}
    moved = await client.post(f"{API}/tasks/{tasks['d']['id']}/move", json={"position": 1})
    assert moved.status_code == 200 and moved.json()["position"] == 1
    assert await children(client, pid, None) == [("a", 0), ("d", 1), ("b", 2), ("c", 3)]
    await client.post(f"{API}/tasks/{tasks['a']['id']}/move", json={"position": 99})
    assert await children(client, pid, None) == [("d", 0), ("b", 1), ("c", 2), ("a", 3)]
    await client.post(f"{API}/tasks/{tasks['c']['id']}/move", json={})  # no position: last
    assert await children(client, pid, None) == [("d", 0), ("b", 1), ("a", 2), ("c", 3)]
    before = await Event.count()
    same = await client.post(f"{API}/tasks/{tasks['b']['id']}/move", json={"position": 1})
    assert same.status_code == 200 and same.json()["position"] == 1
    assert await Event.count() == before  # nothing moved: no event
    moves = await events_of("task.moved")
    assert [(e["data"]["from_parent_id"], e["data"]["to_parent_id"], e["data"]["position"]) for e in moves] == [
        (None, None, 1),
        (None, None, 3),
        (None, None, 3),
    ]
    assert moves[0]["entity_id"] == tasks["d"]["id"] and moves[0]["project_id"] == pid
    assert moves[0]["data"]["task"]["id"] == tasks["d"]["id"]


async def test_move_between_parents(client: httpx.AsyncClient, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    p1 = await make_task(client, pid, "p1")
    p2 = await make_task(client, pid, "p2")
    x = await make_task(client, pid, "x", parent_id=p1["id"])
    y = await make_task(client, pid, "y", parent_id=p1["id"])
    await make_task(client, pid, "z", parent_id=p1["id"])
    await make_task(client, pid, "q", parent_id=p2["id"])
    moved = await client.post(f"{API}/tasks/{y['id']}/move", json={"parent_id": p2["id"], "position": 0})
    assert moved.status_code == 200
    assert moved.json()["parent_id"] == p2["id"] and moved.json()["position"] == 0
    assert await children(client, pid, p1["id"]) == [("x", 0), ("z", 1)]
    assert await children(client, pid, p2["id"]) == [("y", 0), ("q", 1)]
    to_root = await client.post(f"{API}/tasks/{x['id']}/move", json={"parent_id": None})
    assert to_root.json()["parent_id"] is None
    assert await children(client, pid, None) == [("p1", 0), ("p2", 1), ("x", 2)]
    assert await children(client, pid, p1["id"]) == [("z", 0)]
    # A whole subtree moves with its root.
    await client.post(f"{API}/tasks/{p2['id']}/move", json={"parent_id": x["id"]})
    tree = (await client.get(f"{API}/tasks/{x['id']}/tree")).json()
    assert shape(tree) == ["x", [["p2", [["y", []], ["q", []]]]]]
    moves = await events_of("task.moved")
    assert [(e["data"]["from_parent_id"], e["data"]["to_parent_id"]) for e in moves] == [
        (p1["id"], p2["id"]),
        (p1["id"], None),
        (None, x["id"]),
    ]


async def test_move_refusals_write_nothing(client: httpx.AsyncClient, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    other = await make_project(client, tmp_path, "Other")
    root = await make_task(client, pid, "root")
    child = await make_task(client, pid, "child", parent_id=root["id"])
    grandchild = await make_task(client, pid, "grandchild", parent_id=child["id"])
    foreign = await make_task(client, other, "foreign")
    before = await Event.count()
    snapshot = await TaskRow.select().order_by(TaskRow.id)
    url = f"{API}/tasks/{root['id']}/move"
    cases = [
        (url, {"parent_id": root["id"]}, 409),
        (url, {"parent_id": child["id"]}, 409),
        (url, {"parent_id": grandchild["id"], "position": 0}, 409),
        (url, {"parent_id": foreign["id"]}, 400),
        (url, {"parent_id": new_id("tsk")}, 400),
        (url, {"parent_id": "tsk_bad"}, 400),
        (url, {"position": -1}, 400),
        (url, {"position": 1_000_001}, 400),
        (url, {"parent": None}, 400),
        (url, [], 400),
        (f"{API}/tasks/{new_id('tsk')}/move", {"position": 0}, 404),
    ]
    for path, body, status in cases:
        response = await client.post(path, json=body)
        assert response.status_code == status, (body, response.text)
        assert set(response.json()) == {"status_code", "detail", "extra"}
    assert await Event.count() == before
    assert await TaskRow.select().order_by(TaskRow.id) == snapshot


async def test_delete_removes_subtree_links_and_dependencies(client: httpx.AsyncClient, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    first = await make_task(client, pid, "first")
    root = await make_task(client, pid, "root")
    last = await make_task(client, pid, "last")
    child = await make_task(client, pid, "child", parent_id=root["id"])
    grandchild = await make_task(client, pid, "grandchild", parent_id=child["id"])
    sibling = await make_task(client, pid, "sibling", parent_id=root["id"])
    # Dependencies in both directions across the subtree's border, and a session link and timeline entry inside it.
    assert (await client.post(f"{API}/tasks/{last['id']}/dependencies", json={"depends_on": child["id"]})).is_success
    assert (
        await client.post(f"{API}/tasks/{grandchild['id']}/dependencies", json={"depends_on": first["id"]})
    ).is_success
    now = utcnow()
    session_id = new_id("ses")
    await SessionRow.insert(SessionRow(id=session_id, project=pid, name="s", created_at=now, updated_at=now))
    await TaskSession.insert(TaskSession(task=grandchild["id"], session=session_id, created_at=now, updated_at=now))
    await TimelineEntry.insert(TimelineEntry(task=child["id"], kind="note", message="hi", created_at=now))

    assert (await client.delete(f"{API}/tasks/{root['id']}")).status_code == 204
    remaining = {r["id"] for r in await TaskRow.select(TaskRow.id)}
    assert remaining == {first["id"], last["id"]}
    assert await TaskDependency.count() == 0
    assert await TaskSession.count() == 0 and await TimelineEntry.count() == 0
    assert await SessionRow.count() == 1  # the session itself stays
    assert await children(client, pid, None) == [("first", 0), ("last", 1)]  # the gap is closed
    assert (await client.get(f"{API}/tasks/{last['id']}")).json()["dependencies"] == []
    (event,) = await events_of("task.deleted")
    assert event["entity_id"] == root["id"] and event["project_id"] == pid
    assert event["data"]["id"] == root["id"]
    deleted = event["data"]["deleted_ids"]
    assert deleted[0] == root["id"] and deleted[-1] == grandchild["id"]
    assert sorted(deleted) == sorted([root["id"], child["id"], grandchild["id"], sibling["id"]])


async def deep_chain(client: httpx.AsyncClient, project_id: str, depth: int) -> list[str]:
    """A single line of `depth` nested tasks (inserted directly, for speed); their ids, root first."""
    root = await make_task(client, project_id, "level 0")
    now = utcnow()
    chain = [root["id"]]
    rows = []
    for level in range(1, depth):
        chain.append(new_id("tsk"))
        rows.append(
            TaskRow(
                id=chain[-1],
                project=project_id,
                parent=chain[-2],
                title=f"level {level}",
                created_at=now,
                updated_at=now,
            )
        )
    await TaskRow.insert(*rows)
    return chain


async def test_a_very_deep_tree_answers(client: httpx.AsyncClient, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    # Far deeper than a recursive encoder, Python's recursion limit or SQLite's cascade trigger depth allows.
    chain = await deep_chain(client, pid, 1500)
    root = {"id": chain[0]}
    response = await client.get(f"{API}/tasks/{root['id']}/tree")
    assert response.status_code == 200
    # Python's own JSON parser cannot nest that deep either, so check the text: each level holds the next one.
    text = response.text
    positions = [text.index(f'"id":"{tid}"') for tid in chain]
    assert positions == sorted(positions) and text.count('"children":[') == 1500
    assert text.endswith('"children":[' + "]}" * 1500)
    refused = await client.post(f"{API}/tasks/{root['id']}/move", json={"parent_id": chain[-1]})
    assert refused.status_code == 409
    assert (await client.delete(f"{API}/tasks/{root['id']}")).status_code == 204
    (event,) = await events_of("task.deleted")
    assert event["data"]["deleted_ids"] == chain
    assert await TaskRow.count() == 0


async def test_purge_project_tasks_handles_deep_trees(app: MaestroApp, client: httpx.AsyncClient, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    other = await make_project(client, tmp_path, "Other")
    await deep_chain(client, pid, 1200)
    await make_task(client, pid, "second root")
    kept = await make_task(client, other, "kept")
    purged = await app.runtime.writer.write(lambda tx: purge_project_tasks(pid), "api")
    assert purged == 1201
    assert [r["id"] for r in await TaskRow.select(TaskRow.id)] == [kept["id"]]
