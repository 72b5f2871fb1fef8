"""The chat page, the one home of its pieces: a question box, the answer streaming in as it is generated (with
the passages an open-book answer read under it), and sample.py's sampling controls. chat_page() lays the page
out for chat_web.py (build_page: a checkpoint loaded in this process) and for serve.py's /chat (wuxia/arena.py:
any model, through the OpenAI API); the arena builds its two sides from the same pieces.

On chat_web.py's page the answer is made exactly as sample.py makes it (encode_input's prompt, stream_text,
the seed used as given), so its answer for seed S equals that of
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


def question_box(gr, sft=True, lines=3, max_input_chars=None):
    """The box for the question (for a pretrained model: the text it continues); Enter in it submits."""
    return gr.Textbox(label="问题 Question" if sft else "开头 Text to continue", lines=lines, max_length=max_input_chars,
                      autofocus=True, elem_id="question", placeholder="郭靖的师父是谁？" if sft else "杨过被他掌力震伤胸膛")


def answer_boxes(gr, label="回答 Answer", lines=12, passages=None, elem_id="answer"):
    """The box the answer streams into and, when passages names its label, a box under it for the passages an
    open-book answer read (as retrieval.show_passages writes them). Returns the list of boxes; the passages'
    elem_id is the answer's with "passages" for "answer" (answer: passages, left_answer: left_passages)."""
    boxes = [gr.Textbox(label=label, lines=lines, interactive=False, elem_id=elem_id)]
    if passages:
        boxes.append(gr.Textbox(label=passages, lines=max(3, lines // 2), interactive=False,
                                elem_id=elem_id.replace("answer", "passages")))
    return boxes


def chat_page(respond, title, intro, settings, sft=True, models=(), passages=None, max_input_chars=None,
              max_new_tokens=256, max_new_tokens_limit=1024, seed=1337):
    """The chat page of chat_web.py and of serve.py's /chat, as a gr.Blocks that its caller queues: a model
    picker when models are named, the question, Submit, Stop and Clear, the answer streaming in (under it the
    passages box, when passages names its label), and the sampling controls starting from settings.
    respond(model if there is a picker, question, *controls) is a generator that yields the answer so far, or
    (answer, passages) on a page with the passages box; Submit is the page's API endpoint /answer."""
    gr = require_gradio()
    with gr.Blocks(title=title, analytics_enabled=False) as page:
        gr.Markdown(f"## {title}\n{intro}")
        with gr.Row():
            with gr.Column(scale=3):
                picked = [gr.Dropdown(list(models), value=models[0], label="model", elem_id="model")] if models else []
                question = question_box(gr, sft, max_input_chars=max_input_chars)
                with gr.Row():
                    submit = gr.Button("Submit", variant="primary", elem_id="submit")
                    stop = gr.Button("Stop")
                    clear = gr.ClearButton(value="Clear")
                outputs = answer_boxes(gr, "回答 Answer" if sft else "续写 Continuation", passages=passages)
            with gr.Column(scale=1):
                controls = decoding_controls(gr, settings, max_new_tokens, max_new_tokens_limit, seed)
        inputs = [*picked, question, *controls]
        clicked = submit.click(respond, inputs, outputs, api_name="answer")
        entered = question.submit(respond, inputs, outputs, api_visibility="private")  # same as Submit
        stop.click(None, cancels=[clicked, entered])
        clear.add([question, *outputs])
    return page


def build_page(model, tokenizer, sft, title="wuxia-gpt", max_input_chars=500, max_new_tokens=256,
               max_new_tokens_limit=1024, seed=1337, autocast=None, find_passages=None, **decoding):
    """chat_web.py's page for one model loaded in this process, queued so that several browsers wait their
    turn (one answer is generated at a time; the model is shared). find_passages: retrieval.open_book's
    function for an open-book run (its passages are shown under the answer), None for a closed-book one. The
    other keyword arguments are the controls' starting values."""
    gr = require_gradio()

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

    intro = ("Ask a question: the fine-tuned (SFT) model answers it." if sft else
             "Type the beginning of a text: this pretrained model continues it (completion mode).")
    page = chat_page(respond, title, intro, {**DECODING, **decoding}, sft=sft,
                     passages="资料 Passages the answer read" if find_passages else None,
                     max_input_chars=max_input_chars, max_new_tokens=max_new_tokens,
                     max_new_tokens_limit=max_new_tokens_limit, seed=seed)
    return page.queue(default_concurrency_limit=1, max_size=32)
