# Hugging Face Docker Space conventions: non-root user 1000, app in $HOME/app, port 7860.
# Builds on any machine (no GPU needed); uses CUDA at run time when the container gets a GPU.
FROM python:3.11-slim

# Shared libraries that OpenCV and MediaPipe load; a C/C++ compiler for T2VZ_COMPILE (Triton and inductor build small
# modules at run time).
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 libegl1 libgles2 gcc g++ \
    && rm -rf /var/lib/apt/lists/*

RUN useradd -m -u 1000 user && mkdir -p /data && chown user /data
USER user
# Model weights go to /data (a Space's persistent storage, or any mounted volume); outputs to /tmp.
ENV HOME=/home/user \
    PATH=/home/user/.local/bin:$PATH \
    HF_HOME=/data/huggingface \
    T2VZ_TINY_MODELS_DIR=/data/tiny-models \
    T2VZ_OUTPUT_DIR=/tmp/text2video-zero/outputs \
    PYTHONUNBUFFERED=1
WORKDIR $HOME/app

COPY --chown=user requirements.txt requirements-mediapipe.txt ./
RUN pip install --no-cache-dir --user -r requirements.txt \
    && pip install --no-cache-dir --user --no-deps -r requirements-mediapipe.txt
COPY --chown=user . .

EXPOSE 7860
CMD ["python", "app.py", "--server-name", "0.0.0.0", "--port", "7860"]
