"""The chat web page: a question box, the answer streaming in as it is generated, and sample.py's sampling
controls. chat_web.py loads a checkpoint and serves the page; tests build it the same way.

The answer is made exactly as sample.py makes it (encode_input's prompt, stream_text, the seed used as
given), so the page's answer for seed S equals that of
    python sample.py --out_dir=... --start=QUESTION --num_samples=1 --seed=S
with the same settings. A run fine-tuned open book reads the passages retrieved for each question (as
sample.py does), and the page shows them under the answer. Gradio is imported only when the page is built: it
is an optional dependency.
"""
from wuxia.generate import DECODING, check_input, decoding_problem, encode_input, passages_for, stream_text
from wuxia.retrieval import show_passages

GRADIO_MISSING = ("The chat page needs Gradio, an optional dependency: pip install -r requirements-chat.txt\n"
                  "(the terminal chat needs nothing more: python sample.py --out_dir=... --interactive)")


def require_gradio():
    """The gradio module, or an exit that says how to install it."""
    try:
        import gradio
    except ImportError:
        raise SystemExit(GRADIO_MISSING)
    return gradio


def answer_stream(model, tokenizer, sft, text, max_new_tokens, temperature, top_k, top_p, repetition_penalty,
                  seed, max_input_chars, autocast=None, passages=()):
    """Yields the text to show, longer each time: an SFT model's answer (reading the passages, for an
    open-book run: generate.passages_for's), or a pretrained model's continuation after the text it was given
    (as sample.py prints it). An empty seed draws a random one."""
    problem = (check_input(tokenizer, text, sft, model.config.block_size, max_input_chars)
               or decoding_problem(temperature=temperature, top_k=int(top_k), top_p=top_p,
                                   repetition_penalty=repetition_penalty))
    if problem:
        yield problem
        return
    shown = "" if sft else text
    if shown:
        yield shown
    seed = None if seed is None else int(seed)
    prompt_ids = encode_input(tokenizer, text, sft, passages, model.config.block_size)
    for piece in stream_text(model, tokenizer, prompt_ids, int(max_new_tokens),
                             temperature=temperature, top_k=int(top_k), top_p=top_p,
                             repetition_penalty=repetition_penalty, seed=seed, autocast=autocast):
        shown += piece
        yield shown


def decoding_controls(gr, settings, max_new_tokens, max_new_tokens_limit, seed):
    """The sampling controls, in the order answer_stream takes them: max new tokens, temperature, top-k,
    top-p, repetition penalty, seed. Used by this page and by serve.py's chat and arena pages."""
    temperature_box = gr.Slider(0.0, 2.0, value=settings["temperature"], step=0.05, label="temperature",
                                info="0 is greedy decoding")
    top_k_box = gr.Slider(0, max(1000, settings["top_k"]), value=settings["top_k"], step=1, precision=0, label="top-k",
                          info="0 switches it off")
    top_p_box = gr.Slider(0.0, 1.0, value=settings["top_p"], step=0.01, label="top-p",
                          info="1.0 switches it off")
    penalty_box = gr.Slider(1.0, 2.0, value=settings["repetition_penalty"], step=0.05,
                            label="repetition penalty", info="1.0 switches it off")
    max_tokens_box = gr.Slider(1, max(max_new_tokens_limit, max_new_tokens), value=max_new_tokens,
                               step=1, precision=0, label="max new tokens")
    seed_box = gr.Number(value=seed, precision=0, label="seed",
                         info="same seed and settings, same answer; empty for a random one")
    return [max_tokens_box, temperature_box, top_k_box, top_p_box, penalty_box, seed_box]


def build_page(model, tokenizer, sft, title="wuxia-gpt", max_input_chars=500, max_new_tokens=256,
               max_new_tokens_limit=1024, seed=1337, autocast=None, find_passages=None, **decoding):
    """The page as a gr.Blocks, queued so that several browsers wait their turn (one answer is generated at
    a time; the model is shared). find_passages: retrieval.open_book's function for an open-book run (its
    passages are shown under the answer), None for a closed-book one. The other keyword arguments are the
    controls' starting values."""
    gr = require_gradio()
    settings = {**DECODING, **decoding}

    def respond(text, max_new_tokens, temperature, top_k, top_p, repetition_penalty, seed):
        unknown = tokenizer.count_unknown(text or "")
        if unknown:
            gr.Warning(f"{unknown} character(s) are not in the model's vocabulary and are read as <unk>.")
        if not find_passages:
            yield from answer_stream(model, tokenizer, sft, text, max_new_tokens, temperature, top_k, top_p,
                                     repetition_penalty, seed, max_input_chars, autocast)
            return
        passages = passages_for(find_passages, tokenizer, text or "", model.config.block_size)
        for shown in answer_stream(model, tokenizer, sft, text, max_new_tokens, temperature, top_k, top_p,
                                   repetition_penalty, seed, max_input_chars, autocast, passages):
            yield shown, show_passages(passages)

    mode = ("Ask a question: the fine-tuned (SFT) model answers it." if sft else
            "Type the beginning of a text: this pretrained model continues it (completion mode).")
    with gr.Blocks(title=title, analytics_enabled=False) as page:
        gr.Markdown(f"## {title}\n{mode}")
        with gr.Row():
            with gr.Column(scale=3):
                question = gr.Textbox(label="问题 Question" if sft else "开头 Text to continue", lines=3,
                                      max_length=max_input_chars, autofocus=True, elem_id="question",
                                      placeholder="郭靖的师父是谁？" if sft else "杨过被他掌力震伤胸膛")
                with gr.Row():
                    submit = gr.Button("Submit", variant="primary", elem_id="submit")
                    stop = gr.Button("Stop")
                    clear = gr.ClearButton(value="Clear")
                answer = gr.Textbox(label="回答 Answer" if sft else "续写 Continuation", lines=12,
                                    interactive=False, elem_id="answer")
                outputs = [answer]
                if find_passages:  # an open-book run: what it read, under the answer
                    outputs.append(gr.Textbox(label="资料 Passages the answer read", lines=6, interactive=False,
                                              elem_id="passages"))
            with gr.Column(scale=1):
                controls = decoding_controls(gr, settings, max_new_tokens, max_new_tokens_limit, seed)
        inputs = [question, *controls]
        clicked = submit.click(respond, inputs, outputs, api_name="answer")
        entered = question.submit(respond, inputs, outputs, api_visibility="private")  # same as Submit
        stop.click(None, cancels=[clicked, entered])
        clear.add([question, *outputs])
    return page.queue(default_concurrency_limit=1, max_size=32)
