"""Drives the Spindle gateway with the stock `openai` client (run by openai_client.rs).

Prints one JSON object with what it saw; the Rust test compares it with
llama-server's direct answers.
"""
import json
import os

import openai
from openai import OpenAI

base, key, model = os.environ["SPINDLE_BASE"], os.environ["SPINDLE_KEY"], os.environ["SPINDLE_MODEL_ID"]
client = OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)
messages = [{"role": "user", "content": "Name a colour."}]
no_cache = {"cache_prompt": False}
out = {"models": [m.id for m in client.models.list()]}

chat = client.chat.completions.create(model=model, messages=messages, max_tokens=12, temperature=0, extra_body=no_cache)
out["chat"] = chat.choices[0].message.content
out["chat_usage"] = chat.usage.model_dump()

text, usage, chunks = "", None, 0
stream = client.chat.completions.create(
    model=model, messages=messages, max_tokens=12, temperature=0, extra_body=no_cache,
    stream=True, stream_options={"include_usage": True},
)
for chunk in stream:
    chunks += 1
    if chunk.choices and chunk.choices[0].delta.content:
        text += chunk.choices[0].delta.content
    if chunk.usage:
        usage = chunk.usage.model_dump()
out.update(stream=text, stream_usage=usage, stream_chunks=chunks)

completion = client.completions.create(model=model, prompt="The sky is", max_tokens=8, temperature=0, extra_body=no_cache)
out["completion"] = completion.choices[0].text
embedding = client.embeddings.create(model=model, input="hello")
out["embedding_len"] = len(embedding.data[0].embedding)

try:
    OpenAI(base_url=base + "/v1", api_key="sk-wrong", max_retries=0).chat.completions.create(model=model, messages=messages)
except openai.AuthenticationError as e:
    out["bad_key"] = e.status_code
try:
    client.chat.completions.create(model="no-such-model", messages=messages)
except openai.NotFoundError as e:
    out["unknown_model"] = e.status_code
print(json.dumps(out))
