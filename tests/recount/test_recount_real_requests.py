"""The recount against prompt_tokens that OpenAI (and Claude, Gemini) reported for real calls.

Every request here was really sent and its usage recorded by another project's test
suite (tests/fixtures/realworld/, provenance in its README). Two promises are checked:
a count labelled exact equals what the provider billed, and the requests we miss are
exactly the known ones (so an improvement or a regression both show up here).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import cassette_response
from tokaudit.recount import RequestCount, RequestToCount, count_request, count_requests

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "realworld"
# recorded_chat_calls.yaml (2026-11-26) and _a, _b, ... (harvested later from more projects'
# cassettes: the rules of a session are checked on the next file before it is added)
RECORDED_FILES = sorted((REAL / "openai").glob("recorded_chat_calls*.yaml"))
RECORDED = [c for f in RECORDED_FILES for c in yaml.safe_load(f.read_text("utf-8"))]
INPUT_KEYS = (
    "instructions",
    "messages",
    "input",
    "tools",
    "functions",
    "response_format",
    "tool_choice",
    "function_call",
    "stop",  # not an input key, but it decides whether a reply's count can be exact
    "prediction",  # Predicted Outputs: billed beyond the messages, input and output
)
# Our count minus the reported prompt_tokens, for the 55 calls we miss (all labelled
# estimates; docs/recount.md says why for each kind): 4 json_schema response formats
# (2 pydantic-ai anyOf schemas, 1 over; one gpt-5-mini schema with a $ref, 1 under; one
# sublayer schema, 112 over), 9 images linked by URL (size unknown offline), 7 with
# crewAI's planner tool (an array of described objects, 32 under), a predicted output, 1 of
# the blind batch q, 1 of s, 1 of t, 2 of u, 2 of w, 2 of x, 2 of y, 2 of zf, 3 of zg,
# 2 of zh, 4 of zi, 2 of zk, 1 of zm, 9 others.
KNOWN_MISSES: dict[str, int] = {
    # batch _o (held out): a predicted output billed 12 input tokens beyond the messages;
    # instructor-rb's tool_choice "required" (-2) and a nested anyOf schema (-11)
    "o_raix_predicted_outputs_caps": -12,
    "o_irb_iterable_users_required": -2,
    "o_irb_autoticketer_actionitems": -11,
    "pyd_native_multi_0": 1,
    "pyd_native_multi_1": 1,
    "a_pyd_image_url_tool_response_1": 340,
    "a_pyd_sys_role_o1_mini_0": -8,
    "b_mira_img_png": 510,
    "b_mira_img_jpeg": 510,
    "b_mira_img_gif": 510,
    "b_mira_img_webp": 340,
    "b_mira_img_5mini": 1638,
    "c_crew_platform_0": -2,
    "c_mira_so_5mini_0": -1,
    "c_crew_reasoning_low_1": -32,
    "c_crew_fn_calling_llm_1": 2,
    "d_weave_tools": -2,
    "e_crew_plan_tools_0": -32,
    "e_crew_plan_minimal_0": -32,
    "f_crew_plan_state_0": -32,
    "f_crew_research_plan_0": -32,
    "f_crew_plan_exec_state_0": -32,
    "f_crew_kickoff_plan_0": -32,
    "i_dd_lc_lcel_tools_add": -12,
    "i_dd_lc_structured_joke_gpt4": 3,
    "l_lcg_parrot_image_url": 510,
    # batch n (held out: measured before any rule was read off it)
    "n_sub_product_description_json_schema": 112,
    "n_ddpy_image_input_vision_preview": -340,
    "n_ddpy_custom_tool_grammar_gpt5": -224,
    "n_ddpy_llmobs_image_url_gpt4o": -340,
    # batch q (held out: harvested blind after the rules above, before the 0613 rule):
    # a gpt-4-0613 tool round
    "q_reqllm_gpt4_tool_result_add": 3,
    # batch s (held out: harvested blind after the o4-mini rule, which it contradicts once:
    # an Azure o4-mini tool round billed 3 less than the rule says)
    "s_fantasy_azure_o4_mini_tool_1": 3,
    # batch t (held out): an o1-mini chat, whose framing was never checked (an estimate)
    "t_langsmith_wrappers_chat_tokens_reasoning_0": -1,
    # batch u (held out: harvested blind in the fourteenth session, measured before and
    # after its rules): a gpt-4o-mini call forcing tools 2 under (its twin with tool_choice
    # auto agrees), an anyOf parameter on gpt-3.5 1 under
    "u_aviary_tool_selector_4omini_0": -2,
    "u_llmc_single_param_tool_arg_union_0": -1,
    # batch w (held out: harvested blind after every rule of the session; its recorder sorts
    # JSON keys): two json_schema formats, a gpt-4.1-nano schema with a two-line description
    # (4 under) and a gpt-4o request whose history holds a refused answer (3 under, 1 over
    # since gpt-4o's answers in a json_schema request cost 4 more, read off batch z)
    "w_rig_rawcap_structured_output_41nano_0": -4,
    "w_rig_refusal_turn_survives_into_history_1": 1,  # -3 before gpt-4o's answers rule
    # batch x (held out: harvested blind in the fifteenth session, before any rule of it):
    # "hello world" on o1-mini and o1-preview, billed 2 more than on o1 and o3-mini (their
    # framing is an estimate: a_pyd_sys_role_o1_mini_0 and t_langsmith_... disagree too)
    "x_llmruby_o1_mini_0": -2,
    "x_llmruby_o1_preview_0": -2,
    # batch y (held out: harvested blind in the fifteenth session): a 2560-px Wikimedia
    # thumbnail (costed as square: its height is not in the address; -1142 at 1024 x 1024)
    # and a 1x1 PNG on gpt-4.1-nano billed 1 more than the patch rule
    "y_envoy_fake_multimodal_0": 80,
    "y_envoy_fake_base64_image_0": -1,
    # batch zf (held out): mastra's agent tool, a strict schema of nested anyOf lists, an
    # untyped variant with only a description and an x-optional list (29 under, twice)
    "zf_mastra_toolhandling_0": -29,
    "zf_mastra_toolhandling_1": -29,
    # batch zg (held out: harvested blind after every rule of the session): an image linked
    # by URL on Azure gpt-4o (no size in its address; 918 billed, 1,148 on api.openai.com),
    # and two Azure gpt-35-turbo-1106 deployments whose responses name the bare id, billed 3
    # a message where the 0301 framing that id gets says 4 (the documented cost of the rule;
    # the third, with tool_choice "required", agrees by the 2 that costs)
    "zg_go_vision_azure": -143,
    "zg_java_toolchoice_explicit": 2,
    "zg_java_toolchoice_none": 2,
    # batch zh (held out): one more Azure deployment answering as the bare gpt-35-turbo
    # (named for 0613) billed 3 a message (1 over), and a predicted output (an estimate)
    "zh_go_tools_weather_azure": 1,
    "zh_java_prediction_azure": -16,
    # blind batches of the sixteenth session (zi, zj, zk: harvested after every rule, no
    # rule read off them): two images linked by URL (one with no size in its address, one a
    # 2560-px Wikimedia thumbnail of a 3:2 photo costed as square), three Azure deployments
    # answering as the bare gpt-35-turbo and billed 3 a message (0613 by name, and two of the
    # JavaScript SDK's), and a gpt-3.5-turbo-0613 function with a default (1 over)
    "zi_llmadapt_vision_url_and_png": 340,
    "zi_lbgpt_image_url_wikimedia": -340,
    "zi_lbgpt_azure_pong_0613": 1,
    "zi_gptfn_functions_flight": 1,
    "zk_js_asset_info_azure": 1,
    "zk_js_specific_tool_azure": 4,
    # batch zm (held out, likewise): a three-turn chat answered by gpt-3.5-turbo-0301, 1 over
    # with that snapshot's 4 tokens a message (an estimate: one other recorded 0301 call)
    "zm_exopenai_sky_gpt35_0301": 1,
}
# Replies we count off: three plain gpt-4o / gpt-4.5 replies are billed one token more than
# their text (recorded with n=1; other plain replies agree); replies after a json_schema
# response format 4 more; a gpt-4.1-mini reply after tools 1 less than the +1 rule. Still
# labelled as the rule says: an open question (docs/recount.md).
KNOWN_REPLY_MISSES: dict[str, int] = {
    "o_raix_meaning_of_life_nano": -1,  # gpt-4.1-nano: billed one more than its text
    "o_raix_predicted_outputs_caps": -38,  # 37 rejected prediction tokens, and gpt-4o's +1
    "pyd_native_multi_1": -4,
    "pyd_gpt45_hello_0": -1,
    "pyd_instructions_0": -1,
    "pyd_user_id_0": -1,
    "a_pyd_instr_tool_calls_1": -1,
    "b_crew_so_tools_2": -4,
    "d_llm_chain_2": -1,
    "d_agentops_json": -1,
    "d_agentops_story_0": -1,
    "d_agentops_story_1": -1,
    "d_agentops_hello": -1,
    "d_logfire_agents": -1,
    "d_llm_basic_1": -1,
    "d_weave_dspy": -1,
    "e_miras_sowt_strict_gpt4o_1": -4,
    "e_miras_sowt_strict_gpt4o_3": -4,
    "f_miras_sowt_default_gpt4o_0": -4,
    "f_miras_sowt_default_gpt4o_1": -4,
    "f_miras_sowt_default_gpt4o_async_0": -4,
    "f_miras_sowt_default_gpt4o_async_1": -4,
    "h_miras_sowt_strict_gpt4o_async": -4,
    "h_agentops_async_multiple_0": -1,
    "h_agentops_async_multiple_1": -1,
    "h_agentops_async_multiple_2": -1,
    "h_agentops_openai_provider_0": -1,
    "h_agentops_openai_provider_1": -1,
    "h_ollm_lc_structured_output": -1,
    "i_dd_crewai_react_average_0": -2,
    "i_dd_agents_soccer_handoff_2": -1,
    "m_lcg_mrkl_react_gpt4_0": -4,  # cut by a stop sequence, billed with it: an estimate
    "r_dspyrb_default_values_weather": 2,  # blind batch r: a gpt-4o-mini reply billed 2 less
    # blind batch t: gpt-3.5-turbo and gpt-4o replies billed 1 more than their text, as
    # recorded ones of those families were before (their replies are estimates)
    "t_langsmith_openai_chat_sync_api_0": -1,
    "t_langsmith_openai_parse_sync_api_0": -1,
    "t_langsmith_openai_parse_tokens_0": -1,
    # blind batch x: llm_ruby's "hello world" answered on seven models (February 2025), each
    # reply billed 1 more than its text, gpt-4-0613 and gpt-4-turbo too (whose 26 other
    # recorded replies agree: their replies are now estimates); llm.rb's gpt-4o-mini replies
    "x_llmruby_gpt_3_5_turbo_1106_0": -1,
    "x_llmruby_gpt_3_5_turbo_0": -1,
    "x_llmruby_gpt_4_0613_0": -1,
    "x_llmruby_gpt_4_turbo_2024_04_09_0": -1,
    "x_llmruby_gpt_4_0": -1,
    "x_llmruby_gpt_4o_mini_0": -1,
    "x_llmruby_gpt_4o_0": -1,
    "x_llmrb_completions_thread_0fa68f1_0": -1,
    "x_llmrb_conv_system_function_call_1_12ff22f_1": -1,
    "x_llmrb_conv_system_function_call_2_12ff22f_1": -1,
    "x_llmrb_conv_system_function_call_3_12ff22f_1": -1,
    "x_llmrb_lazy_schema_netbsd_0e5c284_0": -1,
    "x_llmrb_lazy_successful_response_0e5c284_0": -1,
    # blind batch y: two more gpt-4o-mini replies billed 1 more than their text
    "y_eotelnode_chat_completion_0": -1,
    "y_eoteljava_tools_followup_1": -1,
    # blind batch z: gpt-4o-mini, gpt-3.5-turbo and gpt-4o replies billed 1 more than their
    # text (estimates already)
    "z_kaiban_output_schema_0": -1,
    "z_kaiban_insights_0": -1,
    "z_kaiban_insights_1": -1,
    "z_pl_chat_0": -1,
    "z_pl_chat_async_0": -1,
    "z_pl_run_prompt_1": -1,
    # blind batch za: an Azure gpt-4 reply after a legacy function round, 1 more than the +1
    "za_net_function_call_1": -1,
    # blind batch zf: KaibanJS's gpt-4o-mini replies, 1 more than their text (estimates)
    "zf_kaiban_task_blocking_0": -1,
    "zf_kaiban_task_blocking_1": -1,
    "zf_kaiban_agentops_before_0": -1,
    "zf_kaiban_agentops_before_1": -1,
    "zf_kaiban_agentops_before_2": -1,
    "zf_kaiban_agentops_after_0": -1,
    "zf_kaiban_agentops_after_1": -1,
    "zf_kaiban_agentops_after_2": -1,
    "zf_kaiban_event_plain_0": -1,
    "zf_kaiban_event_plain_1": -1,
    "zf_kaiban_event_parallel_1": -1,
    "zf_kaiban_event_parallel_2": -1,
    "zf_kaiban_event_parallel_3": -1,
    "zf_kaiban_event_parallel_4": -1,
    # blind batch zg: a reply to a Predicted Outputs request, billed with the prediction
    # tokens it rejected (an estimate, as the input is)
    "zg_go_prediction_azure": -35,
    "zh_java_prediction_azure": -5,  # blind batch zh: a predicted output's reply, likewise
    # blind batches zi and zj: gpt-4o and gpt-4o-mini replies billed 1 more than their text
    # (estimates already), a json_object reply 2 more
    "zi_llmadapt_azure_text_parts": -1,
    "zi_llmadapt_json_object": -2,
    "zi_llmadapt_assistant_first": -1,
    "zi_llmadapt_vision_url_and_png": -1,
    "zj_roast_deepest_lake_followup": -1,
    "zj_roast_lake_nonsense": -1,
    "zj_roast_grading_tool_result_1": -1,
    "zj_roast_haiku_paris": -1,
    "zm_exopenai_sky_gpt35_0301": -2,  # blind batch zm: a gpt-3.5-turbo-0301 reply, 2 more
}


def _model(case: dict[str, Any]) -> str:
    """The model as the store keeps it: the snapshot that answered, else the one asked for
    (a "gpt-3.5-turbo" request answered by gpt-3.5-turbo-0301 has that snapshot's framing;
    an Azure deployment name is no model)."""
    return str(case.get("model_responded") or case["model"])


def _body(request: dict[str, Any]) -> dict[str, Any]:
    return {k: request.get(k) for k in INPUT_KEYS}


def _cassette_calls() -> list[Any]:
    """The shared cassettes' chat calls: plain messages, short and long (1149 tokens)."""
    cases = []
    for name in (
        "otelcontrib_chat_completion_with_content.yaml",
        "otelcontrib_chat_completion_streaming.yaml",
        "openllmetry_openai_prompt_caching.yaml",
    ):
        document = yaml.safe_load((REAL / "openai" / name).read_text("utf-8"))
        for index, interaction in enumerate(document["interactions"]):
            request = json.loads(interaction["request"]["body"])
            usage = cassette_response(interaction["response"]["body"])["usage"]
            cases.append(pytest.param(request, usage["prompt_tokens"], id=f"{name}[{index}]"))
    return cases


@pytest.fixture(scope="module")
def counted() -> dict[str, RequestCount]:
    """Every recorded call (with its reply, where recorded) counted in one recount."""
    items = [
        RequestToCount(
            _body(c["request"]),
            _model(c),
            response={"messages": [{"role": "assistant", "content": c["reply"]}]}
            if "reply" in c
            else None,
        )
        for c in RECORDED
    ]
    return dict(zip([c["id"] for c in RECORDED], count_requests(items), strict=True))


def test_recorded_calls_are_the_documented_ones() -> None:
    assert [f.name for f in RECORDED_FILES] == [
        "recorded_chat_calls.yaml",
        "recorded_chat_calls_a.yaml",
        "recorded_chat_calls_b.yaml",
        "recorded_chat_calls_c.yaml",
        "recorded_chat_calls_d.yaml",
        "recorded_chat_calls_e.yaml",
        "recorded_chat_calls_f.yaml",
        "recorded_chat_calls_g.yaml",
        "recorded_chat_calls_h.yaml",
        "recorded_chat_calls_i.yaml",
        "recorded_chat_calls_j.yaml",
        "recorded_chat_calls_k.yaml",
        "recorded_chat_calls_l.yaml",
        "recorded_chat_calls_m.yaml",
        "recorded_chat_calls_n.yaml",
        "recorded_chat_calls_o.yaml",
        "recorded_chat_calls_p.yaml",
        "recorded_chat_calls_q.yaml",
        "recorded_chat_calls_r.yaml",
        "recorded_chat_calls_s.yaml",
        "recorded_chat_calls_t.yaml",
        "recorded_chat_calls_u.yaml",
        "recorded_chat_calls_v.yaml",
        "recorded_chat_calls_w.yaml",
        "recorded_chat_calls_x.yaml",
        "recorded_chat_calls_y.yaml",
        "recorded_chat_calls_z.yaml",
        "recorded_chat_calls_za.yaml",
        "recorded_chat_calls_zb.yaml",
        "recorded_chat_calls_zc.yaml",
        "recorded_chat_calls_zd.yaml",
        "recorded_chat_calls_ze.yaml",
        "recorded_chat_calls_zf.yaml",
        "recorded_chat_calls_zg.yaml",
        "recorded_chat_calls_zh.yaml",
        "recorded_chat_calls_zi.yaml",
        "recorded_chat_calls_zj.yaml",
        "recorded_chat_calls_zk.yaml",
        "recorded_chat_calls_zm.yaml",
    ]
    assert len(RECORDED) == 1001 == len({c["id"] for c in RECORDED})
    assert {c["id"] for c in RECORDED} >= set(KNOWN_MISSES) | set(KNOWN_REPLY_MISSES)
    assert sum(c["prompt_tokens"] for c in RECORDED) == 303720


@pytest.mark.parametrize("case", RECORDED, ids=[c["id"] for c in RECORDED])
def test_recorded_call(case: dict[str, Any], counted: dict[str, RequestCount]) -> None:
    got = counted[case["id"]]
    assert got.input_tokens is not None
    if case["id"] in KNOWN_MISSES:
        assert got.input_tokens - case["prompt_tokens"] == KNOWN_MISSES[case["id"]]
        assert not got.input_exact  # a miss must never be labelled exact
    else:
        assert got.input_tokens == case["prompt_tokens"]
    if got.input_exact:
        assert got.input_tokens == case["prompt_tokens"]


@pytest.mark.parametrize(("request_body", "prompt_tokens"), _cassette_calls())
def test_plain_cassette_calls_are_exact(request_body: dict[str, Any], prompt_tokens: int) -> None:
    got = count_request(_body(request_body), request_body["model"])
    assert (got.input_tokens, got.input_exact) == (prompt_tokens, True)


def test_batch_pairs_are_exact() -> None:
    """litellm batch input/output pair on gpt-4o-mini: 20 and 22 prompt tokens."""

    def rows(name: str) -> list[dict[str, Any]]:
        lines = (REAL / "openai" / name).read_text("utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    inputs = {
        row["custom_id"]: row["body"]
        for row in rows("litellm_batch_job_results_furniture.input.jsonl")
    }
    outputs = rows("litellm_test_batch_utils_output.jsonl")
    assert len(outputs) == 2
    for row in outputs:
        body = inputs[row["custom_id"]]
        got = count_request(_body(body), body["model"])
        assert (got.input_tokens, got.input_exact) == (
            row["response"]["body"]["usage"]["prompt_tokens"],
            True,
        )


def test_responses_api_instructions_and_input() -> None:
    """Responses API on gpt-4o-mini: instructions + input string reported 22; gpt-5.4: 44."""
    for name, expected in (
        ("otelcontrib_responses_create_aggregates_cache_tokens.yaml", 22),
        ("otelcontrib_responses_create_reports_reasoning_tokens.yaml", 44),
    ):
        document = yaml.safe_load((REAL / "openai" / name).read_text("utf-8"))
        interaction = document["interactions"][0]
        request = json.loads(interaction["request"]["body"])
        usage = cassette_response(interaction["response"]["body"])["usage"]
        assert usage["input_tokens"] == expected
        got = count_request(_body(request), request["model"])
        assert (got.input_tokens, got.input_exact) == (expected, True)


def test_agreement_rate_on_recorded_calls(counted: dict[str, RequestCount]) -> None:
    """946 of the 1001 recorded calls agree to the token, and every count labelled exact does."""
    hits = sum(counted[c["id"]].input_tokens == c["prompt_tokens"] for c in RECORDED)
    assert hits == len(RECORDED) - len(KNOWN_MISSES) == 946
    exact = [c for c in RECORDED if counted[c["id"]].input_exact]
    assert len(exact) == 435  # plain messages and simple tool schemas
    assert all(counted[c["id"]].input_tokens == c["prompt_tokens"] for c in exact)


@pytest.mark.parametrize("case", [c for c in RECORDED if "reply" in c], ids=lambda c: c["id"])
def test_reply_recount(case: dict[str, Any], counted: dict[str, RequestCount]) -> None:
    """Plain replies count exactly; after tools 1 more; reasoning models hide tokens."""
    got = counted[case["id"]]
    reasoning = _model(case).startswith(("o1", "o3", "o4", "gpt-5"))
    # gpt-4o (gpt-4o-mini too), gpt-4.5 and gpt-3.5 replies are contradicted by recorded
    # ones: estimates
    contradicted = _model(case) == "gpt-4" or _model(case).startswith(
        ("gpt-4o", "chatgpt-4o", "gpt-4.5", "gpt-3.5", "gpt-35", "gpt-4.1-nano", "gpt-4-")
    )
    if case["id"] in KNOWN_REPLY_MISSES:
        assert got.output_tokens is not None
        assert got.output_tokens - case["completion_tokens"] == KNOWN_REPLY_MISSES[case["id"]]
        assert not got.output_exact  # a miss must never be labelled exact
    elif reasoning:
        assert got.output_tokens is not None and got.output_tokens < case["completion_tokens"]
        assert not got.output_exact
    else:
        assert got.output_tokens == case["completion_tokens"]
        # a reply may be cut by a stop sequence, billed but not logged: never exact
        stop = case["request"].get("stop") is not None
        assert got.output_exact is (
            not case["request"].get("tools") and not contradicted and not stop
        )


def _gemini(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    document = yaml.safe_load((REAL / "gemini" / name).read_text("utf-8"))
    interaction = document["interactions"][0]
    return (
        json.loads(interaction["request"]["body"]),
        cassette_response(interaction["response"]["body"]),
    )


@pytest.mark.parametrize(
    ("name", "prompt"),
    [
        ("otelcontrib_google_genai_non_streaming_gemini-2.5-flash.yaml", 8),
        ("otelcontrib_vertexai_generate_content.yaml", 5),
    ],
)
def test_gemini_estimate_on_real_samples(name: str, prompt: int) -> None:
    """Gemini counts message text only; the o200k estimate matched both real prompts."""
    request, response = _gemini(name)
    assert response["usageMetadata"]["promptTokenCount"] == prompt
    body = {k: request.get(k) for k in ("systemInstruction", "contents", "tools")}
    got = count_request(body, "gemini-2.5-flash", "google")
    assert (got.input_tokens, got.input_exact, got.tokenizer) == (prompt, False, "estimate-o200k")


def test_claude_estimate_is_labelled_and_within_its_documented_error() -> None:
    """Claude's tokenizer is not public: -13 % on the real 1,167-token prompt (docs/recount.md)."""
    document = yaml.safe_load(
        (REAL / "anthropic" / "openllmetry_anthropic_prompt_caching_legacy.yaml").read_text()
    )
    interaction = document["interactions"][0]
    raw = interaction["request"]["body"]
    request = json.loads(gzip.decompress(raw) if isinstance(raw, bytes) else raw)
    usage = cassette_response(interaction["response"]["body"])["usage"]
    billed = (
        usage["input_tokens"]
        + usage.get("cache_read_input_tokens", 0)
        + usage.get("cache_creation_input_tokens", 0)
    )
    body = {k: request.get(k) for k in ("system", "messages", "tools")}
    got = count_request(body, request["model"], "anthropic")
    assert billed == 1167
    assert not got.input_exact and got.tokenizer == "estimate-o200k"
    assert got.input_tokens == 1014
