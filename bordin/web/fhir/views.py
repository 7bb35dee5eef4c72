from fastapi import APIRouter


def routers() -> list[APIRouter]:
    return []
